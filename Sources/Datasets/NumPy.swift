import CZlib
import Foundation

/// One array of a .npy file (or a .npz member): its dtype, shape and little-endian bytes.
public struct NumPyArray: Sendable {
    public enum DType: String, Sendable {
        case uint8 = "u1", int8 = "i1", int16 = "i2", uint16 = "u2", int32 = "i4", uint32 = "u4", int64 = "i8", uint64 = "u8"
        case float32 = "f4", float64 = "f8"
        var size: Int { Int(rawValue.dropFirst())! }
        var isFloat: Bool { self == .float32 || self == .float64 }
    }
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    /// Element `i` as a Double (exact for every integer type Pare accepts as labels).
    public func value(_ i: Int) -> Double {
        let o = i * dtype.size
        func raw<T: FixedWidthInteger>(_: T.Type) -> T {
            var v: T = 0
            for k in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[o + k]) << (8 * k) }
            return v
        }
        switch dtype {
        case .uint8: return Double(bytes[o])
        case .int8: return Double(Int8(bitPattern: bytes[o]))
        case .int16: return Double(raw(Int16.self))
        case .uint16: return Double(raw(UInt16.self))
        case .int32: return Double(raw(Int32.self))
        case .uint32: return Double(raw(UInt32.self))
        case .int64: return Double(raw(Int64.self))
        case .uint64: return Double(raw(UInt64.self))
        case .float32: return Double(Float(bitPattern: raw(UInt32.self)))
        case .float64: return Double(bitPattern: raw(UInt64.self))
        }
    }

    /// Parses .npy bytes (format 1.0-3.0): the header's shape must account for every byte.
    public static func parse(_ data: [UInt8], path: String) throws -> NumPyArray {
        func bad(_ reason: String) -> DataError { .badArray(path: path, reason: reason) }
        guard data.count >= 10, data.prefix(6).elementsEqual([0x93] + Array("NUMPY".utf8)) else {
            throw bad("not a .npy array (expected the \\x93NUMPY magic)")
        }
        let major = data[6]
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(data[8]) | Int(data[9]) << 8; start = 10
        case 2, 3:
            guard data.count >= 12 else { throw bad("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(data[8 + $1]) << (8 * $1) }; start = 12
        default: throw bad("format version \(major) (expected 1, 2 or 3)")
        }
        guard headerLength <= 1 << 16, start + headerLength <= data.count else { throw bad("header of \(headerLength) bytes does not fit the file") }
        let header = String(decoding: data[start..<(start + headerLength)], as: UTF8.self)
        func field(_ key: String) -> Substring? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return header[r.upperBound...].drop { $0 == " " }
        }
        guard let d = field("descr"), d.first == "'", let close = d.dropFirst().firstIndex(of: "'") else { throw bad("header without a 'descr'") }
        let descr = String(d[d.index(after: d.startIndex)..<close])
        let order = descr.first
        guard let dtype = DType(rawValue: String(descr.dropFirst())), order == "<" || order == "|" || (order == "=" ) else {
            throw bad("dtype '\(descr.prefix(20))' (expected little-endian uint8, float32, float64 or an integer type)")
        }
        if let f = field("fortran_order"), f.hasPrefix("True") { throw bad("Fortran-ordered array (save it with np.ascontiguousarray)") }
        guard let s = field("shape"), s.first == "(", let end = s.firstIndex(of: ")") else { throw bad("header without a 'shape'") }
        var shape: [Int] = []
        for part in s[s.index(after: s.startIndex)..<end].split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let n = Int(t), n >= 0, n <= 1 << 40 else { throw bad("shape entry '\(t.prefix(20))'") }
            shape.append(n)
        }
        var bytes = dtype.size
        for n in shape {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: n)
            bytes = overflow ? Int.max : p
        }
        let payload = data.count - start - headerLength
        guard bytes == payload else {
            throw bad("shape \(shape) of \(dtype.rawValue) needs \(bytes == Int.max ? "too many" : String(bytes)) bytes, the file holds \(payload)")
        }
        return NumPyArray(dtype: dtype, shape: shape, bytes: Array(data[(start + headerLength)...]))
    }
}

/// The members of a .npz file (NumPy's zip of .npy arrays, stored or deflated, zip64 or not).
public enum NPZ {
    /// Largest archive read; a member's declared size is checked against the file before any allocation.
    static let fileLimit = 16 << 30

    /// The members Pare reads.
    public static let wanted: Set<String> = ["x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "images", "labels"]

    /// The `wanted` arrays of the archive (other members are listed, never inflated).
    public static func read(_ path: String) throws -> [String: NumPyArray] {
        let data = try FileBytes.readPlain(path, limit: fileLimit)
        func bad(_ reason: String) -> DataError { .badArray(path: path, reason: reason) }
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { (0..<4).reduce(0) { $0 | Int(data[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> Int { let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[o + $1]) << (8 * UInt64($1)) }; return v > UInt64(Int.max / 2) ? Int.max / 2 : Int(v) }
        // The end-of-central-directory record: the last signature in the final 64 KiB.
        guard data.count >= 22, let eocd = stride(from: data.count - 22, through: max(0, data.count - 22 - 65_535), by: -1)
            .first(where: { u32($0) == 0x0605_4b50 }) else { throw bad("not a .npz (zip) archive") }
        var entries = u16(eocd + 10), directory = u32(eocd + 16)
        if directory == 0xFFFF_FFFF || entries == 0xFFFF, eocd >= 20, u32(eocd - 20) == 0x0706_4b50 {
            let record = u64(eocd - 12)
            guard record + 56 <= data.count, u32(record) == 0x0606_4b50 else { throw bad("damaged zip64 directory") }
            entries = u64(record + 32); directory = u64(record + 48)
        }
        var arrays: [String: NumPyArray] = [:]
        var o = directory, total = 0
        for _ in 0..<min(entries, 10_000) {
            guard o + 46 <= data.count, u32(o) == 0x0201_4b50 else { throw bad("damaged zip central directory") }
            let method = u16(o + 10)
            var compressed = u32(o + 20), size = u32(o + 24), local = u32(o + 42)
            let nameLength = u16(o + 28), extraLength = u16(o + 30), commentLength = u16(o + 32)
            guard o + 46 + nameLength + extraLength <= data.count else { throw bad("damaged zip central directory") }
            let name = String(decoding: data[(o + 46)..<(o + 46 + nameLength)], as: UTF8.self)
            // Zip64 sizes and offset, in this order, for the fields that overflowed.
            var e = o + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = u16(e), fieldEnd = min(e + 4 + u16(e + 2), extraEnd)
                if id == 1 {
                    var p = e + 4
                    if size == 0xFFFF_FFFF, p + 8 <= fieldEnd { size = u64(p); p += 8 }
                    if compressed == 0xFFFF_FFFF, p + 8 <= fieldEnd { compressed = u64(p); p += 8 }
                    if local == 0xFFFF_FFFF, p + 8 <= fieldEnd { local = u64(p) }
                }
                e = fieldEnd
            }
            o += 46 + nameLength + extraLength + commentLength
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            // Only the arrays Pare reads are inflated, each once.
            guard wanted.contains(key), arrays[key] == nil else { continue }
            guard size <= fileLimit - total else { throw bad("members of more than \(fileLimit >> 30) GiB in all") }
            total += size
            guard local + 30 <= data.count, u32(local) == 0x0403_4b50 else { throw bad("\(name): damaged local header") }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            guard start <= data.count, compressed <= data.count - start else { throw bad("\(name): member runs past the end of the file") }
            let raw: [UInt8]
            switch method {
            case 0:
                guard size == compressed else { throw bad("\(name): stored member of inconsistent sizes") }
                raw = Array(data[start..<(start + compressed)])
            case 8:
                // Deflate expands at most about 1032:1: a larger claim is not a real archive.
                guard size <= compressed * 1032 + 1024 else { throw bad("\(name): claims \(size) bytes from \(compressed) deflated ones") }
                raw = try inflate(Array(data[start..<(start + compressed)]), size: size, path: "\(path):\(name)")
            default: throw bad("\(name): zip compression method \(method) (expected stored or deflate)")
            }
            arrays[key] = try NumPyArray.parse(raw, path: "\(path):\(name)")
        }
        return arrays
    }

    /// Raw deflate of exactly `size` bytes. The output grows as it is produced (a member
    /// claiming more than it holds costs only what it really inflates to), and the input is
    /// fed in pieces zlib's 32-bit counters can hold.
    static func inflate(_ input: [UInt8], size: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: min(size, 1 << 20))
        var stream = z_stream()
        guard pare_inflate_init_raw(&stream) == Z_OK else { throw DataError.corruptGzip(path: path, reason: "inflateInit failed") }
        defer { inflateEnd(&stream) }
        var produced = 0, consumed = 0, status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { inBuf in
            while status != Z_STREAM_END {
                if stream.avail_in == 0 && consumed < inBuf.count {
                    let n = min(inBuf.count - consumed, 1 << 30)
                    stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress! + consumed)
                    stream.avail_in = UInt32(n)
                    consumed += n
                }
                if produced == out.count {
                    guard out.count < size else { break }
                    out.append(contentsOf: [UInt8](repeating: 0, count: min(out.count, size - out.count)))
                }
                let before = stream.avail_in
                status = out.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                    stream.next_out = outBuf.baseAddress! + produced
                    stream.avail_out = UInt32(min(outBuf.count - produced, 1 << 30))
                    let room = stream.avail_out
                    let r = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += Int(room - stream.avail_out)
                    return r
                }
                if status == Z_BUF_ERROR && before == stream.avail_in && consumed == inBuf.count { break }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw DataError.corruptGzip(path: path, reason: stream.msg.map { String(cString: $0) } ?? "zlib error \(status)")
                }
            }
        }
        guard status == Z_STREAM_END, produced == size else {
            throw DataError.corruptGzip(path: path, reason: "deflated member gives \(produced) bytes or more, its header says \(size)")
        }
        return out
    }
}
