import CZlib
import Foundation

/// Reads files, transparently gunzipping those that start with the gzip magic (so `.gz`
/// and raw files load the same way, whatever their names) — never more than the caller's
/// limit, so a small gzip bomb cannot inflate into gigabytes.
enum FileBytes {
    /// The whole content; `DataError.tooLarge` when it exceeds `limit` bytes.
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let (bytes, complete) = try read(path, upTo: limit)
        guard complete else { throw DataError.tooLarge(path: path, limit: limit) }
        return bytes
    }

    /// At most `count` bytes of the content, and whether that was all of it.
    static func read(_ path: String, upTo count: Int) throws -> (bytes: [UInt8], complete: Bool) {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.missingFile(path: path) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError.unreadable(path: path, reason: "permission denied or not a regular file")
        }
        defer { try? handle.close() }
        let head: Data
        do { head = try handle.read(upToCount: 2) ?? Data() } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
        if head.count == 2 && head[head.startIndex] == 0x1f && head[head.startIndex + 1] == 0x8b {
            // Compressed data is at most as large as what it inflates to, so the file
            // itself may be read whole once it is within the limit.
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            guard size <= max(count, 1 << 20) * 2 else { throw DataError.tooLarge(path: path, limit: count) }
            let compressed: Data
            do { compressed = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw DataError.unreadable(path: path, reason: error.localizedDescription)
            }
            return try gunzip([UInt8](compressed), path: path, limit: count)
        }
        do {
            try handle.seek(toOffset: 0)
            // One byte past the limit tells whether there is more.
            let data = try handle.read(upToCount: count + 1) ?? Data()
            return data.count > count ? ([UInt8](data.prefix(count)), false) : ([UInt8](data), true)
        } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    /// Inflates at most `limit` bytes (complete: false when the stream holds more).
    static func gunzip(_ input: [UInt8], path: String, limit: Int) throws -> (bytes: [UInt8], complete: Bool) {
        guard input.count >= 18 else { throw DataError.corruptGzip(path: path, reason: "only \(input.count) bytes") }
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        // The buffer holds limit + 1 bytes at most: filling it means the content is longer.
        let cap = limit + 1
        // A corrupt trailer lies: trust it only up to a plausible ratio, then grow by doubling.
        var output = [UInt8](repeating: 0, count: min(cap, max(1024, min(isize, input.count * 16 + 65536))))
        var stream = z_stream()
        guard pare_inflate_init_gzip(&stream) == Z_OK else {
            throw DataError.corruptGzip(path: path, reason: "inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var produced = 0
        var status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress!)
            stream.avail_in = UInt32(inBuf.count)
            while true {
                if produced == output.count {
                    if output.count >= cap { return }
                    output.append(contentsOf: [UInt8](repeating: 0, count: min(output.count, cap - output.count)))
                }
                status = output.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                    stream.next_out = outBuf.baseAddress! + produced
                    stream.avail_out = UInt32(min(outBuf.count - produced, Int(UInt32.max)))
                    let before = stream.avail_out
                    let r = inflate(&stream, Z_NO_FLUSH)
                    produced += Int(before - stream.avail_out)
                    return r
                }
                if status == Z_STREAM_END { break }
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw DataError.corruptGzip(path: path, reason: "stream ends early after \(produced) bytes")
                }
                if status != Z_OK && status != Z_BUF_ERROR {
                    let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw DataError.corruptGzip(path: path, reason: msg)
                }
            }
        }
        if produced > limit { return (Array(output[0..<limit]), false) }
        output.removeLast(output.count - produced)
        return (output, true)
    }
}
