import Foundation

/// Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = (dir as NSString).appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
            throw UserError("\(tmp): cannot create (check permissions)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw UserError("\(path): cannot replace (errno \(errno))")
        }
        let fd = open(dir, O_RDONLY | O_DIRECTORY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    static func writeJSON(_ object: Any, to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try write(data, to: path)
    }
}

/// Append-only JSON-lines metrics file (one object per line, flushed per line).
final class MetricsLog {
    private let handle: FileHandle
    let path: String

    init(directory: String, file: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(file)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw UserError("\(path): cannot create") }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    func append(_ record: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        data.append(0x0a)
        try handle.write(contentsOf: data)
    }
}

/// A progress line: rewritten in place on a terminal, a plain log line every few seconds otherwise.
final class Progress {
    let total: Int
    let interactive = isatty(STDERR_FILENO) != 0
    private var lastPrint = Date.distantPast
    private let start = Date()

    init(total: Int) { self.total = total }

    func update(step: Int, epoch: Int, epochs: Int, loss: Double, imagesPerSecond: Double) {
        let now = Date()
        let interval = interactive ? 0.2 : 10
        guard now.timeIntervalSince(lastPrint) >= interval || step == total else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let eta = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        let line = String(format: "epoch %d/%d step %d/%d loss %.4f %.0f img/s ETA %@",
                          epoch, epochs, step, total, loss, imagesPerSecond, Progress.clock(eta))
        if interactive {
            FileHandle.standardError.write(("\r\u{1B}[K" + line).data(using: .utf8)!)
        } else {
            logLine(line)
        }
    }

    func finish() {
        if interactive { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
