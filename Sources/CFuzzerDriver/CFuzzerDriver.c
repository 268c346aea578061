/* Header-only: see include/CFuzzerDriver.h. SwiftPM needs one source file per C target. */
