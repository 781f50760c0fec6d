import Foundation

/// A run's directory: `run.json` (configuration, written once), `lock` (held exclusively
/// while training writes here, shared while other commands read the supernet), `checkpoints/ckpt-STEP.bin` (the newest K kept), `train.jsonl`,
/// `summary.json`.
public final class RunDirectory {
    public let path: String
    private var heldLock: FileLock?

    /// Opens a run directory; with `create` false it must exist already (commands that read
    /// a trained run must not leave empty directories behind for a mistyped name).
    public init(path: String, create: Bool = true) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        if !create && !(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw RunError.io(path: path, message: "no such run directory (train one with: pare train --space FILE --run \(path))")
        }
        do {
            try FileManager.default.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
        } catch {
            throw RunError.io(path: path, message: "cannot create the run directory (\(error.localizedDescription))")
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    public var checkpointDirectory: String { file("checkpoints") }
    public var configPath: String { file("run.json") }

    /// Takes the run's lock or throws naming the holder. Writers (training) take it
    /// exclusively; readers of a trained supernet (search, correlate, export) share it, so
    /// several can run at once but none while the supernet is being trained.
    public func lock(shared: Bool = false) throws {
        heldLock = try FileLock(path: file("lock"), shared: shared, owner: path)
    }

    public func unlock() { heldLock = nil }

    /// Checkpoint files, newest (highest step) first.
    public func checkpoints() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("ckpt-"), name.hasSuffix(".bin"),
                  let step = Int(name.dropFirst(5).dropLast(4)) else { return nil }
            return (step, (checkpointDirectory as NSString).appendingPathComponent(name))
        }.sorted { $0.0 > $1.0 }
    }

    /// Writes a checkpoint atomically, then deletes all but the newest `keep`.
    @discardableResult
    public func writeCheckpoint(_ data: Data, step: Int, keep: Int) throws -> String {
        let target = (checkpointDirectory as NSString).appendingPathComponent(String(format: "ckpt-%09d.bin", step))
        try AtomicFile.write(data, to: target)
        for old in checkpoints().dropFirst(max(keep, 1)) { try? FileManager.default.removeItem(atPath: old.path) }
        return target
    }
}

/// Ctrl-C (SIGINT) and SIGTERM as a flag the training loop polls, so it can write a
/// checkpoint before exiting instead of dying mid-step.
public enum Interrupt {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    public static func install() {
        flag = 0
        // First signal: finish the step / generation and checkpoint. A second one: leave now
        // (the newest complete checkpoint stays valid; _exit is async-signal-safe).
        signal(SIGINT) { _ in if Interrupt.flag != 0 { _exit(130) }; Interrupt.flag = 1 }
        signal(SIGTERM) { _ in if Interrupt.flag != 0 { _exit(143) }; Interrupt.flag = 1 }
        // A parent may have started us with these signals blocked (the mask is inherited
        // across exec): unblock them, or Ctrl-C would stay pending until the run ends.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    public static var requested: Bool { flag != 0 }

    /// Back to the default handlers (a second Ctrl-C then kills at once).
    public static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
