import Foundation

/// Wraps a non-Sendable value for `concurrentPerform`; callers keep the writes of the
/// parallel iterations disjoint.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

/// Coarse-grained fork/join over the machine's cores (2 here). Use it for work of at
/// least tens of microseconds; an empty fork costs about 1 us.
public enum Parallel {
    /// Number of worker threads used by the engine's kernels (and GEMM splits).
    nonisolated(unsafe) public static var threads: Int = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))

    /// Runs `body(i)` for i in 0..<count, concurrently when count > 1 and threads > 1.
    @inlinable
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            let box = UncheckedSendable(escaping)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }

    /// Splits 0..<total into one contiguous chunk per thread when `work` (a rough count of
    /// floats touched) is large enough to pay for the fork.
    @inlinable
    public static func chunks(_ total: Int, work: Int, minWork: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, total)
        if parts <= 1 || work < minWork {
            body(0..<total)
            return
        }
        forEach(parts) { p in
            let lo = total * p / parts, hi = total * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}
