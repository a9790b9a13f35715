/// Reads protobuf wire format from a byte array. Every read checks bounds and throws
/// `TranscodingError.malformedProtobuf` on truncated or invalid input; it never traps.
///
/// A reader covers `start..<end` of `bytes`; `subReader` makes a reader for a length-delimited
/// field without copying.
public struct WireReader {
    public let bytes: [UInt8]
    public private(set) var index: Int
    public let end: Int

    /// Groups (wire types 3/4) may nest; deeper than this is rejected rather than recursed into.
    static let maxGroupDepth = 64

    public init(_ bytes: [UInt8]) {
        self.init(bytes, start: 0, end: bytes.count)
    }

    init(_ bytes: [UInt8], start: Int, end: Int) {
        self.bytes = bytes
        self.index = start
        self.end = end
    }

    public var isAtEnd: Bool { index >= end }

    public mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < end else { throw malformed("truncated varint") }
            let byte = bytes[index]
            index += 1
            if shift == 63 && byte > 1 { throw malformed("varint longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw malformed("varint longer than 10 bytes") }
        }
    }

    /// Reads a tag; returns the field number and wire type. Field number 0 and unknown wire
    /// types are errors.
    public mutating func readTag() throws -> (field: Int, wireType: WireType) {
        let key = try readVarint()
        guard key <= UInt64(UInt32.max) else { throw malformed("tag out of range") }
        guard let type = WireType(rawValue: UInt8(key & 7)) else {
            throw malformed("invalid wire type \(key & 7) at offset \(index)")
        }
        let field = Int(key >> 3)
        guard field > 0 else { throw malformed("field number 0 at offset \(index)") }
        return (field, type)
    }

    public mutating func readFixed32() throws -> UInt32 {
        guard end - index >= 4 else { throw malformed("truncated fixed32") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[index + i]) << (8 * UInt32(i)) }
        index += 4
        return v
    }

    public mutating func readFixed64() throws -> UInt64 {
        guard end - index >= 8 else { throw malformed("truncated fixed64") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[index + i]) << (8 * UInt64(i)) }
        index += 8
        return v
    }

    /// Reads a length prefix and returns a reader over the payload, advancing past it.
    public mutating func subReader() throws -> WireReader {
        let length = try readVarint()
        guard length <= UInt64(end - index) else { throw malformed("length \(length) runs past the end") }
        let start = index
        index += Int(length)
        return WireReader(bytes, start: start, end: index)
    }

    public mutating func readLengthDelimited() throws -> [UInt8] {
        let sub = try subReader()
        return Array(bytes[sub.index..<sub.end])
    }

    public mutating func readString() throws -> String {
        let raw = try readLengthDelimited()
        guard let s = String(validating: raw, as: UTF8.self) else { throw malformed("string field is not valid UTF-8") }
        return s
    }

    /// Skips one field value of the given wire type (unknown fields). Groups are skipped up to
    /// their matching end tag.
    public mutating func skip(_ type: WireType, field: Int, depth: Int = 0) throws {
        switch type {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try subReader()
        case .startGroup:
            guard depth < Self.maxGroupDepth else { throw malformed("groups nested too deeply") }
            while true {
                let (f, t) = try readTag()
                if t == .endGroup {
                    guard f == field else { throw malformed("group \(field) closed by end tag \(f)") }
                    return
                }
                try skip(t, field: f, depth: depth + 1)
            }
        case .endGroup: throw malformed("unexpected end-group tag for field \(field)")
        }
    }

    private func malformed(_ what: String) -> TranscodingError { .malformedProtobuf("malformed protobuf: \(what)") }
}
