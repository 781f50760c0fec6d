import CZlib
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An image folder's split decoded once: the records (uint8, the space's input shape) in a
/// file beside the data (DIR/.pare-cache, or ~/.cache/pare when DIR is read-only), mapped
/// read-only on every later load. It is keyed by the listing — every file's path, class,
/// size and modification time — and the fitting, so a changed, added or removed image (or
/// another input size) rebuilds it; a cache that does not parse or match is rebuilt, never
/// trusted.
///
/// Layout: "PAREIMG1", u64 count, u64 trailer offset, u64 trailer length (little endian),
/// zeros to 4096, the records, then the trailer: JSON of `Trailer`.
public enum DecodeCache {
    static let magic = Array("PAREIMG1".utf8)
    static let payloadOffset = 4096
    /// A trailer is a few bytes per image; more than this is not a cache Pare wrote.
    static let trailerLimit = 256 << 20
    /// Changes when decoding or fitting would give other bytes.
    static let decoderVersion = "pare-decode-1"
    /// No image file is read beyond this (its header would refuse it anyway).
    static let maxFileBytes = 256 << 20

    struct Trailer: Codable, Equatable {
        var key: String
        var channels: Int
        var height: Int
        var width: Int
        var classNames: [String]
        var labels: [Int32]
        /// Files skipped as bad (--skip-bad-images), relative to the split's folder.
        var skipped: [String]
        /// CRC-32 of the records: a cache damaged on disk is rebuilt, not trained on.
        var crc: UInt32
    }

    static func crc(_ base: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
        var c = crc32(0, nil, 0), done = 0
        while done < count {
            let n = min(count - done, 1 << 30)
            c = crc32(c, base + done, UInt32(n))
            done += n
        }
        return UInt32(c)
    }

    /// A decoded split and the files it skipped.
    public struct Loaded {
        public var dataset: Dataset
        public var skipped: [String]
        public var fromCache: Bool
    }

    /// DIR/.pare-cache when it can be written, else ~/.cache/pare/<hash of DIR's path>.
    public static func directory(for dir: String) -> String {
        let beside = (dir as NSString).appendingPathComponent(".pare-cache")
        if (try? FileManager.default.createDirectory(atPath: beside, withIntermediateDirectories: true)) != nil, access(beside, W_OK) == 0 {
            return beside
        }
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((env["HOME"] ?? NSTemporaryDirectory()) as NSString).appendingPathComponent(".cache")
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (dir as NSString).standardizingPath.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let p = ((base as NSString).appendingPathComponent("pare") as NSString).appendingPathComponent(String(format: "%016llx", h))
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    public static func key(_ listing: FolderListing, _ fitter: ImageFitter, skipBad: Bool) -> String {
        let text = "\(decoderVersion) \(fitter.channels)x\(fitter.height)x\(fitter.width) \(fitter.fit.rawValue) skip:\(skipBad)\n" + listing.manifest
        var h: UInt64 = 0xcbf2_9ce4_8422_2325, g: UInt64 = 0x84222325_cbf29ce4
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3; g = (g &* 0x100_0000_01b3) ^ UInt64(b) }
        return String(format: "%016llx%016llx-%d", h, g, text.utf8.count)
    }

    /// The folder's split as a dataset: mapped from a matching cache, else decoded now.
    public static func load(_ listing: FolderListing, fitter: ImageFitter, skipBad: Bool, cacheFile: String, name: String,
                            log: (String) -> Void) throws -> Loaded {
        let key = key(listing, fitter, skipBad: skipBad)
        if FileManager.default.fileExists(atPath: cacheFile) {
            if let loaded = try? open(cacheFile, key: key, fitter: fitter, classNames: listing.classNames, name: name) { return loaded }
            log("\(cacheFile): out of date or unreadable; decoding \(listing.root) again")
        }
        try build(listing, fitter: fitter, skipBad: skipBad, key: key, cacheFile: cacheFile, log: log)
        var loaded = try open(cacheFile, key: key, fitter: fitter, classNames: listing.classNames, name: name)
        loaded.fromCache = false
        return loaded
    }

    /// Maps a cache file, checking every field against the file and the expectation.
    static func open(_ path: String, key: String, fitter: ImageFitter, classNames: [String], name: String) throws -> Loaded {
        let trailer = try readTrailer(path)
        guard trailer.key == key, trailer.channels == fitter.channels, trailer.height == fitter.height, trailer.width == fitter.width,
              trailer.classNames == classNames else {
            throw DataError.badFolder(path: path, reason: "decode cache of other files or another input shape")
        }
        let record = fitter.channels * fitter.height * fitter.width
        let storage = try PixelStorage(mapping: path, offset: payloadOffset, length: trailer.labels.count * record)
        guard crc(storage.base, storage.count) == trailer.crc else {
            throw DataError.badFolder(path: path, reason: "decode cache records damaged (checksum)")
        }
        var d = Dataset(name: name, channels: fitter.channels, height: fitter.height, width: fitter.width, classes: classNames.count,
                        storage: storage, labels: trailer.labels)
        d.classNames = classNames
        return Loaded(dataset: d, skipped: trailer.skipped, fromCache: true)
    }

    /// The trailer of a cache file, every size checked against the file before use.
    static func readTrailer(_ path: String) throws -> Trailer {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DataError.unreadable(path: path, reason: "cannot open") }
        defer { try? handle.close() }
        let fileSize = Int((try? handle.seekToEnd()) ?? 0)
        try? handle.seek(toOffset: 0)
        let head = [UInt8]((try? handle.read(upToCount: 32)) ?? Data())
        guard head.count == 32, Array(head[0..<8]) == magic else { throw DataError.badMagic(path: path, expected: "PAREIMG1", found: "other bytes") }
        func u64(_ at: Int) -> Int {
            let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(head[at + $1]) << (8 * UInt64($1)) }
            return v > UInt64(Int.max / 4) ? -1 : Int(v)
        }
        let count = u64(8), offset = u64(16), length = u64(24)
        guard count >= 0, offset >= payloadOffset, length > 0, length <= trailerLimit, offset <= fileSize, fileSize - offset == length else {
            throw DataError.truncated(path: path, expectedBytes: max(offset, 0) + max(length, 0), foundBytes: fileSize)
        }
        try handle.seek(toOffset: UInt64(offset))
        guard let data = try handle.read(upToCount: length), data.count == length,
              let trailer = try? JSONDecoder().decode(Trailer.self, from: data) else {
            throw DataError.badFolder(path: path, reason: "decode cache trailer does not parse")
        }
        guard (1...3).contains(trailer.channels), (1...ImageDecoder.maxSide).contains(trailer.height), (1...ImageDecoder.maxSide).contains(trailer.width) else {
            throw DataError.badFolder(path: path, reason: "decode cache of an impossible shape")
        }
        let record = trailer.channels * trailer.height * trailer.width
        guard record <= 1 << 26, trailer.labels.count == count, count <= Int.max / 4 / record,
              offset == payloadOffset + count * record,
              trailer.labels.allSatisfy({ $0 >= 0 && Int($0) < trailer.classNames.count }) else {
            throw DataError.badFolder(path: path, reason: "decode cache fields disagree with its size")
        }
        return trailer
    }

    /// Decodes every file straight into a mapped temporary file, compacts out skipped files,
    /// appends the trailer and renames it into place.
    static func build(_ listing: FolderListing, fitter: ImageFitter, skipBad: Bool, key: String, cacheFile: String,
                      log: (String) -> Void) throws {
        let n = listing.files.count, record = fitter.channels * fitter.height * fitter.width
        // Unique across processes and hosts (MPI ranks may share the folder over NFS).
        // (gethostname, not ProcessInfo.hostName, which may wait on a name lookup.)
        var host = [CChar](repeating: 0, count: 256)
        _ = gethostname(&host, host.count - 1)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let temp = cacheFile + ".tmp-\(hostName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = Glibc.open(temp, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw DataError.unreadable(path: temp, reason: "cannot create the decode cache: \(String(cString: strerror(errno)))") }
        var renamed = false
        defer { close(fd); if !renamed { unlink(temp) } }
        let payloadEnd = payloadOffset + n * record
        // Allocated, not sparse: a full disk is this error, not a SIGBUS while writing the mapping.
        let allocated = posix_fallocate(fd, 0, off_t(max(payloadEnd, payloadOffset)))
        guard allocated == 0 else {
            throw DataError.unreadable(path: temp, reason: "cannot make room for the decode cache (\(max(payloadEnd, payloadOffset) >> 20) MiB): \(String(cString: strerror(allocated)))")
        }
        let mapped = mmap(nil, max(payloadEnd, 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw DataError.unreadable(path: temp, reason: "mmap: \(String(cString: strerror(errno)))") }
        defer { munmap(mapped, max(payloadEnd, 1)) }
        let out = mapped.assumingMemoryBound(to: UInt8.self) + payloadOffset
        // Each thread writes only its own records.
        let outAddress = UInt(bitPattern: out)

        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let state = DecodeState(count: n, label: listing.root)
        let start = Date()
        let root = listing.root
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: n, by: workers) where !state.stopped {
                let path = (root as NSString).appendingPathComponent(listing.files[i].path)
                do {
                    let bytes = try FileBytes.readPlain(path, limit: maxFileBytes)
                    let image = try ImageDecoder.decode(bytes, path: path)
                    let target = UnsafeMutablePointer<UInt8>(bitPattern: outAddress)! + i * record
                    fitter.record(image).withUnsafeBufferPointer { target.update(from: $0.baseAddress!, count: record) }
                    state.done(i, error: nil, stop: false)
                } catch {
                    state.done(i, error: error, stop: !skipBad)
                }
            }
        }
        if let first = state.firstError, !skipBad { throw first }
        // Compact: records of skipped files leave no gap.
        var kept = 0, labels: [Int32] = [], skipped: [String] = []
        for i in 0..<n {
            if state.failed[i] { skipped.append(listing.files[i].path); continue }
            if kept != i { memmove(out + kept * record, out + i * record, record) }
            labels.append(Int32(listing.files[i].label))
            kept += 1
        }
        guard kept > 0 else { throw DataError.badFolder(path: root, reason: "no readable images (\(skipped.count) skipped)") }
        let trailer = try JSONEncoder().encode(Trailer(key: key, channels: fitter.channels, height: fitter.height, width: fitter.width,
                                                       classNames: listing.classNames, labels: labels, skipped: skipped,
                                                       crc: crc(out, kept * record)))
        var head = magic
        for v in [kept, payloadOffset + kept * record, trailer.count] { head += (0..<8).map { UInt8(truncatingIfNeeded: UInt64(v) >> (8 * UInt64($0))) } }
        guard msync(mapped, max(payloadEnd, 1), MS_SYNC) == 0,
              pwrite(fd, head, head.count, 0) == head.count,
              ftruncate(fd, off_t(payloadOffset + kept * record)) == 0,
              trailer.withUnsafeBytes({ pwrite(fd, $0.baseAddress, trailer.count, off_t(payloadOffset + kept * record)) }) == trailer.count,
              fsync(fd) == 0, rename(temp, cacheFile) == 0 else {
            throw DataError.unreadable(path: cacheFile, reason: "cannot write the decode cache: \(String(cString: strerror(errno)))")
        }
        renamed = true
        state.finish()
        let seconds = Date().timeIntervalSince(start)
        log(String(format: "decoded %d images of %@ in %.1f s (%.0f/s)%@ -> %@", kept, root, seconds, Double(n) / max(seconds, 1e-9),
                   skipped.isEmpty ? "" : ", skipped \(skipped.count) bad files (first: \(skipped[0]))", cacheFile))
    }
}

/// What the decoding threads share: which files failed, the first error, the progress
/// (a line with the rate and ETA every few seconds on stderr, rewritten on a terminal).
final class DecodeState: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var failed: [Bool]
    private(set) var firstError: Error?
    private var stop = false
    var stopped: Bool { lock.lock(); defer { lock.unlock() }; return stop }
    private var finished = 0
    private let label: String
    private let start = Date()
    private var lastPrint = Date()
    private var printed = false
    private let interactive = isatty(STDERR_FILENO) != 0

    init(count: Int, label: String) { failed = [Bool](repeating: false, count: count); self.label = label }

    func done(_ i: Int, error: Error?, stop: Bool) {
        lock.lock(); defer { lock.unlock() }
        finished += 1
        if let error {
            failed[i] = true
            if firstError == nil { firstError = error }
            if stop { self.stop = true }
        }
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= (interactive ? 0.5 : 10) else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start), rate = Double(finished) / max(elapsed, 1e-9)
        let eta = Double(failed.count - finished) / max(rate, 1e-9)
        let line = String(format: "decoding %@: %d/%d images, %.0f/s, ETA %d:%02d", label, finished, failed.count, rate, Int(eta) / 60, Int(eta) % 60)
        FileHandle.standardError.write(Data(((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n")).utf8))
        printed = true
    }

    func finish() {
        if printed && interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
