import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
            try? handle.seek(toOffset: 0)
            return try gunzip(handle, path: path, limit: count)
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

    /// The bytes of a file as they are (no gunzip), at most `limit` of them.
    static func readPlain(_ path: String, limit: Int) throws -> [UInt8] {
        // Non-blocking: opening a FIFO left in a folder must not wait for a writer.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw DataError.unreadable(path: path, reason: "not a regular file") }
        guard Int(st.st_size) <= limit else { throw DataError.tooLarge(path: path, limit: limit) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let r = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { throw DataError.unreadable(path: path, reason: r == 0 ? "file shrank while read" : String(cString: strerror(errno))) }
            done += r
        }
        return bytes
    }

    /// Inflates at most `limit` bytes (complete: false when the stream holds more), reading
    /// the compressed file 1 MiB at a time: neither side is ever held whole beyond the limit.
    static func gunzip(_ handle: FileHandle, path: String, limit: Int) throws -> (bytes: [UInt8], complete: Bool) {
        // The buffer holds limit + 1 bytes at most: filling it means the content is longer.
        let cap = limit + 1
        var output = [UInt8](repeating: 0, count: min(cap, 1 << 16))
        var stream = z_stream()
        guard pare_inflate_init_gzip(&stream) == Z_OK else {
            throw DataError.corruptGzip(path: path, reason: "inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var produced = 0
        var finished = false
        while !finished && produced < cap {
            let chunk: [UInt8]
            do { chunk = [UInt8](try handle.read(upToCount: 1 << 20) ?? Data()) } catch {
                throw DataError.unreadable(path: path, reason: error.localizedDescription)
            }
            guard !chunk.isEmpty else { throw DataError.corruptGzip(path: path, reason: "stream ends early after \(produced) bytes") }
            try chunk.withUnsafeBufferPointer { inBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress!)
                stream.avail_in = UInt32(inBuf.count)
                while stream.avail_in > 0 && produced < cap {
                    if produced == output.count {
                        output.append(contentsOf: [UInt8](repeating: 0, count: min(output.count, cap - output.count)))
                    }
                    let status = output.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                        stream.next_out = outBuf.baseAddress! + produced
                        stream.avail_out = UInt32(min(outBuf.count - produced, Int(UInt32.max)))
                        let before = stream.avail_out
                        let r = inflate(&stream, Z_NO_FLUSH)
                        produced += Int(before - stream.avail_out)
                        return r
                    }
                    if status == Z_STREAM_END { finished = true; break }
                    if status != Z_OK && status != Z_BUF_ERROR {
                        let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                        throw DataError.corruptGzip(path: path, reason: msg)
                    }
                }
            }
        }
        if produced > limit { return (Array(output[0..<limit]), false) }
        output.removeLast(output.count - produced)
        return (output, true)
    }
}
