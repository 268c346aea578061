/// The version of the Klammer wire protocol this module encodes and decodes.
public let klammerProtocolVersion: UInt16 = 1
