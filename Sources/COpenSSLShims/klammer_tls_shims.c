#include "klammer_tls_shims.h"
