/// IDX files (MNIST, Fashion-MNIST): big-endian magic 0x0000 TT DD (TT = 0x08 unsigned
/// byte, DD = number of dimensions), DD big-endian UInt32 sizes, then the bytes.
public struct IDXArray: Equatable, Sendable {
    public var dimensions: [Int]
    public var bytes: [UInt8]

    public init(dimensions: [Int], bytes: [UInt8]) {
        precondition(dimensions.reduce(1, *) == bytes.count, "IDX dimensions \(dimensions) for \(bytes.count) bytes")
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// Reads `path` (gzip or raw). `dimensions` = 1 for labels, 3 for images.
    /// Largest payload accepted (the Fashion-MNIST training images are 47 MB).
    public static let maxBytes = 1 << 30

    public static func read(_ path: String, dimensions expected: Int) throws -> IDXArray {
        // The header first: it says how many bytes follow, and no more are ever inflated.
        let header = 4 + 4 * expected
        let data0 = try FileBytes.read(path, upTo: header).bytes
        let dims = try parseHeader(data0, path: path, dimensions: expected)
        var payload = 1
        for d in dims {
            let (p, overflow) = payload.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maxBytes else {
                throw DataError.shapeMismatch(path: path, expected: "at most \(maxBytes) bytes of data", found: "dimensions \(dims)")
            }
            payload = p
        }
        let (data, complete) = try FileBytes.read(path, upTo: header + payload)
        guard complete else { throw DataError.tooLarge(path: path, limit: header + payload) }
        guard data.count == header + payload else {
            throw DataError.truncated(path: path, expectedBytes: header + payload, foundBytes: data.count)
        }
        return IDXArray(dimensions: dims, bytes: Array(data[header...]))
    }

    static func parseHeader(_ data: [UInt8], path: String, dimensions expected: Int) throws -> [Int] {
        let magicExpected = String(format: "0x%08X", 0x0800 | expected)
        guard data.count >= 4 else { throw DataError.truncated(path: path, expectedBytes: 4 + 4 * expected, foundBytes: data.count) }
        let magic = Int(data[0]) << 24 | Int(data[1]) << 16 | Int(data[2]) << 8 | Int(data[3])
        guard magic == 0x0800 | expected else {
            throw DataError.badMagic(path: path, expected: magicExpected + " (IDX unsigned bytes, \(expected)-D)",
                                     found: String(format: "0x%08X", magic))
        }
        let header = 4 + 4 * expected
        guard data.count >= header else { throw DataError.truncated(path: path, expectedBytes: header, foundBytes: data.count) }
        var dims: [Int] = []
        for d in 0..<expected {
            let o = 4 + 4 * d
            dims.append(Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3]))
        }
        return dims
    }

    /// Encodes as an IDX file (used by tests and by `pare data` to write subsets).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { out += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        return out + bytes
    }
}

import Foundation
