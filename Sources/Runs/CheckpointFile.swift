import CZlib
import Foundation

/// The container of a checkpoint: a JSON header (what the state is) and a binary payload
/// (floats and bytes, little-endian), framed and checksummed so that a truncated, corrupt
/// or foreign file is rejected before anything is loaded:
///
///     "PARECKPT"  magic, 8 bytes
///     UInt32      format version
///     UInt64      header length H, then H bytes of JSON
///     UInt64      payload length P, then P bytes
///     UInt32      CRC-32 (zlib) of every byte before it
public enum CheckpointFile {
    public static let magic = Array("PARECKPT".utf8)
    public static let version: UInt32 = 1

    public static func encode(header: Data, payload: Data) -> Data {
        var out = Data(magic)
        append(&out, version)
        append(&out, UInt64(header.count))
        out.append(header)
        append(&out, UInt64(payload.count))
        out.append(payload)
        append(&out, crc(out))
        return out
    }

    /// (header, payload) of a checkpoint file, or a `RunError.badCheckpoint` saying why not.
    public static func decode(_ data: Data, path: String) throws -> (header: Data, payload: Data) {
        func bad(_ reason: String) -> RunError { .badCheckpoint(path: path, reason: reason) }
        let bytes = [UInt8](data)
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else { throw bad("not a Pare checkpoint (wrong magic)") }
        guard bytes.count >= 8 + 4 + 8 + 8 + 4 else { throw bad("truncated: \(bytes.count) bytes") }
        let v: UInt32 = read(bytes, 8)
        guard v == version else { throw bad("format version \(v), this build reads \(version)") }
        let h = Int(truncatingIfNeeded: read(bytes, 12) as UInt64)
        guard h >= 0 && h <= bytes.count - 28 else { throw bad("truncated: header of \(h) bytes in a \(bytes.count)-byte file") }
        let p = Int(truncatingIfNeeded: read(bytes, 20 + h) as UInt64)
        guard p >= 0 && p <= bytes.count else { throw bad("truncated: payload of \(p) bytes in a \(bytes.count)-byte file") }
        let framed = 20 + h + 8 + p + 4
        guard bytes.count == framed else {
            throw bad("\(bytes.count < framed ? "truncated" : "trailing bytes"): \(bytes.count) bytes, its framing says \(framed)")
        }
        let stored: UInt32 = read(bytes, bytes.count - 4)
        guard stored == crc(data.prefix(bytes.count - 4)) else { throw bad("checksum mismatch (corrupt file)") }
        return (data.subdata(in: 20..<(20 + h)), data.subdata(in: (28 + h)..<(28 + h + p)))
    }

    public static func crc(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { raw -> UInt32 in
            var c = crc32(0, nil, 0)
            var offset = 0
            while offset < raw.count {
                let n = min(raw.count - offset, 1 << 30)
                c = crc32(c, raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
                offset += n
            }
            return UInt32(c)
        }
    }

    static func append<T: FixedWidthInteger>(_ data: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
    }

    static func read<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
        return v
    }
}

/// Builds and reads a checkpoint payload: a sequence of named sections, checked on read.
public struct PayloadWriter {
    public private(set) var data = Data()
    public private(set) var sections: [Section] = []

    public struct Section: Codable, Equatable, Sendable {
        public var name: String
        public var offset: Int
        public var bytes: Int
    }

    public init() {}

    public mutating func append(_ name: String, floats p: UnsafePointer<Float>, count: Int) {
        sections.append(Section(name: name, offset: data.count, bytes: count * 4))
        data.append(UnsafeBufferPointer(start: p, count: count))
    }

    public mutating func append(_ name: String, bytes: [UInt8]) {
        sections.append(Section(name: name, offset: data.count, bytes: bytes.count))
        data.append(contentsOf: bytes)
    }

    public mutating func append(_ name: String, int32s: [Int32]) {
        sections.append(Section(name: name, offset: data.count, bytes: int32s.count * 4))
        int32s.withUnsafeBufferPointer { data.append($0) }
    }
}

public struct PayloadReader {
    let data: Data
    let sections: [String: PayloadWriter.Section]
    let path: String

    public init(data: Data, sections: [PayloadWriter.Section], path: String) throws {
        self.data = data
        self.path = path
        var map: [String: PayloadWriter.Section] = [:]
        for s in sections {
            // Compared without overflow: a section offset of 2^63 must be an error, not a trap.
            guard s.offset >= 0, s.bytes >= 0, s.offset <= data.count, s.bytes <= data.count - s.offset else {
                throw RunError.badCheckpoint(path: path, reason: "section \(s.name) outside the payload")
            }
            map[s.name] = s
        }
        self.sections = map
    }

    /// The section `name`, checked to hold `expected` bytes when given.
    @discardableResult
    public func section(_ name: String, bytes expected: Int?) throws -> PayloadWriter.Section {
        guard let s = sections[name] else { throw RunError.badCheckpoint(path: path, reason: "missing tensor \(name)") }
        if let expected, s.bytes != expected {
            throw RunError.badCheckpoint(path: path, reason: "tensor \(name) has \(s.bytes / 4) values, the network expects \(expected / 4)")
        }
        return s
    }

    public func has(_ name: String) -> Bool { sections[name] != nil }

    /// Whether every float of section `name` is finite.
    public func allFinite(_ name: String) throws -> Bool {
        let s = try section(name, bytes: nil)
        return data.withUnsafeBytes { raw in
            let floats = UnsafeRawBufferPointer(rebasing: raw[s.offset..<(s.offset + s.bytes / 4 * 4)]).bindMemory(to: Float.self)
            return floats.allSatisfy(\.isFinite)
        }
    }

    public func readFloats(_ name: String, into p: UnsafeMutablePointer<Float>, count: Int) throws {
        let s = try section(name, bytes: count * 4)
        data.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(p).copyMemory(from: raw.baseAddress! + s.offset, byteCount: s.bytes)
        }
    }

    public func bytes(_ name: String) throws -> [UInt8] {
        let s = try section(name, bytes: nil)
        return [UInt8](data[(data.startIndex + s.offset)..<(data.startIndex + s.offset + s.bytes)])
    }

    public func int32s(_ name: String) throws -> [Int32] {
        let s = try section(name, bytes: nil)
        var out = [Int32](repeating: 0, count: s.bytes / 4)
        out.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { raw in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[s.offset..<(s.offset + s.bytes)])) }
        }
        return out
    }
}
