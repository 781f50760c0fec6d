import Foundation

/// An advisory lock on a file (flock: released by the kernel when the process dies, even on
/// kill -9). Exclusive for writers, shared for readers; the file names the newest holder
/// for the error message of whoever is refused.
public final class FileLock {
    private var descriptor: Int32

    /// `owner` is what the refusal names (the run or search directory).
    public init(path: String, shared: Bool, owner: String) throws {
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw RunError.io(path: path, message: "cannot open (errno \(errno))") }
        if flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw RunError.locked(path: owner, holder: holder.isEmpty ? "unknown process" : holder)
        }
        ftruncate(fd, 0)
        let text = "pid \(getpid())\(shared ? ", reading" : "")\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
