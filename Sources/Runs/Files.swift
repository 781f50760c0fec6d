import Foundation

/// Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = (dir as NSString).appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
            throw RunError.io(path: tmp, message: "cannot create (check permissions)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw RunError.io(path: path, message: "cannot replace (errno \(errno))")
        }
        let fd = open(dir, O_RDONLY | O_DIRECTORY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// JSON has no NaN or infinity: such a value is an error naming the file (checked first,
    /// since Foundation would raise an Objective-C-style exception or an error naming nothing).
    public static func writeJSON(_ object: Any, to path: String) throws {
        if let bad = firstNonFinite(object) {
            throw RunError.io(path: path, message: "cannot write \(bad) as JSON (a diverged or empty computation?)")
        }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) } catch {
            throw RunError.io(path: path, message: "cannot encode as JSON (\(error.localizedDescription))")
        }
        try write(data, to: path)
    }

    public static func writeJSON<T: Encodable>(encodable value: T, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try enc.encode(value) } catch {
            throw RunError.io(path: path, message: "cannot encode as JSON (\(decodingProblem(error)); a non-finite number?)")
        }
        try write(data, to: path)
    }

    static func firstNonFinite(_ value: Any) -> String? {
        switch value {
        case let d as Double: return d.isFinite ? nil : "\(d)"
        case let f as Float: return f.isFinite ? nil : "\(f)"
        case let a as [Any]: return a.lazy.compactMap(firstNonFinite).first
        case let m as [String: Any]:
            for (k, v) in m { if let bad = firstNonFinite(v) { return "\(bad) in '\(k)'" } }
            return nil
        default: return nil
        }
    }
}

/// Problems with a run directory or its files; one line each, naming the path.
public enum RunError: Error, CustomStringConvertible, Equatable {
    case io(path: String, message: String)
    case locked(path: String, holder: String)
    case badCheckpoint(path: String, reason: String)
    case noCheckpoint(directory: String)
    case configMismatch(path: String, field: String, stored: String, requested: String)

    public var description: String {
        switch self {
        case let .io(path, message): return "\(path): \(message)"
        case let .locked(path, holder):
            return "\(path): another process (\(holder)) is using this run; wait for it or stop it"
        case let .badCheckpoint(path, reason): return "\(path): unusable checkpoint (\(reason))"
        case let .noCheckpoint(directory): return "\(directory): no valid checkpoint to resume from"
        case let .configMismatch(path, field, stored, requested):
            return "\(path): the run was started with \(field) \(stored), now \(requested); pass --override-config to resume anyway"
        }
    }
}

/// Append-only JSON-lines metrics file (one object per line, flushed per line).
public final class MetricsLog {
    private let handle: FileHandle
    public let path: String

    public init(directory: String, file: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(file)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw RunError.io(path: path, message: "cannot create") }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ record: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(0x0a)
        try handle.write(contentsOf: data)
    }
}

/// A progress line: rewritten in place on a terminal, a plain log line every few seconds otherwise.
public final class Progress {
    public let total: Int
    public let interactive = isatty(STDERR_FILENO) != 0
    private var lastPrint = Date.distantPast
    private var firstStep: (Int, Date)?

    public init(total: Int, log: @escaping (String) -> Void) { self.total = total; self.log = log }
    private let log: (String) -> Void

    public func update(step: Int, epoch: Int, epochs: Int, loss: Double, imagesPerSecond: Double) {
        let now = Date()
        let interval = interactive ? 0.2 : 10
        guard now.timeIntervalSince(lastPrint) >= interval || step == total else { return }
        lastPrint = now
        if firstStep == nil { firstStep = (step, now) }
        let (s0, t0) = firstStep!
        let eta = step > s0 ? now.timeIntervalSince(t0) / Double(step - s0) * Double(total - step) : 0
        let line = String(format: "epoch %d/%d step %d/%d loss %.4f %.0f img/s ETA %@",
                          epoch, epochs, step, total, loss, imagesPerSecond, Progress.clock(eta))
        if interactive {
            FileHandle.standardError.write(("\r\u{1B}[K" + line).data(using: .utf8)!)
        } else {
            log(line)
        }
    }

    public func finish() {
        if interactive { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    public static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// A JSON decoding failure as one short line: the field path and what was wrong
/// ("space.stages.0.stride: expected 1...2, got 0"), never Foundation's multi-line dump.
public func decodingProblem(_ error: Error) -> String {
    let (field, reason) = decodingFailure(error)
    let line = (field.isEmpty ? "" : field + ": ") + reason
    return line.count > 200 ? String(line.prefix(200)) + "..." : line
}

/// The field path ("" at the top level) and the reason of a decoding failure.
public func decodingFailure(_ error: Error) -> (field: String, reason: String) {
    guard let e = error as? DecodingError else { return ("", "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)") }
    let path: [CodingKey], reason: String
    switch e {
    case let .keyNotFound(k, c): path = c.codingPath + [k]; reason = "missing"
    case let .typeMismatch(t, c): path = c.codingPath; reason = "expected \(t)"
    case let .valueNotFound(_, c): path = c.codingPath; reason = "is null"
    case let .dataCorrupted(c): path = c.codingPath; reason = c.debugDescription
    @unknown default: path = []; reason = "\(e)"
    }
    return (path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "."), reason)
}
