import CZlib
import Foundation

/// Reads a whole file, transparently gunzipping it when it starts with the gzip magic
/// (so `.gz` and raw IDX files load the same way, whatever their names).
enum FileBytes {
    static func read(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.missingFile(path: path) }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
        let bytes = [UInt8](data)
        if bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
            return try gunzip(bytes, path: path)
        }
        return bytes
    }

    /// One inflate() into a buffer sized from the gzip ISIZE trailer (grown if the trailer
    /// lies, e.g. for members over 4 GiB or concatenated members).
    static func gunzip(_ input: [UInt8], path: String) throws -> [UInt8] {
        guard input.count >= 18 else { throw DataError.corruptGzip(path: path, reason: "only \(input.count) bytes") }
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        // A corrupt or truncated file has a garbage trailer: trust it only up to a plausible
        // ratio and grow by doubling past that.
        var output = [UInt8](repeating: 0, count: max(1024, min(isize, input.count * 16 + 65536)))
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
                if produced == output.count { output.append(contentsOf: [UInt8](repeating: 0, count: output.count)) }
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
        output.removeLast(output.count - produced)
        return output
    }
}
