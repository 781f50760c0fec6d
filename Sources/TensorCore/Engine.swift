import Foundation

/// Sums values element-wise over the processes of a data-parallel job, in place.
public protocol CrossProcessSum: AnyObject, Sendable {
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int)
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int)
}

/// How the engine runs: the worker threads of its kernels and GEMM splits, and an optional
/// profiler. A value passed explicitly — to every layer when a network is built, and from
/// the layers to the kernels — so nothing about execution is process-wide: two networks
/// (or two tests) in one process can run with different settings side by side.
public struct Engine: Sendable {
    /// Worker threads for kernels and GEMM splits (BLAS itself stays single-threaded).
    public var threads: Int
    /// Time by layer kind and executed MACs, when set.
    public var profiler: Profiler?
    /// Data-parallel training with synchronized BatchNorm: sums the per-channel batch
    /// statistics over every process of the job (nil: each process's own batch).
    public var batchStatistics: CrossProcessSum?

    public init(threads: Int = Engine.availableCores, profiler: Profiler? = nil) {
        self.threads = max(1, threads)
        self.profiler = profiler
    }

    /// The machine's cores (at most 8: the kernels gain nothing beyond).
    public static var availableCores: Int { max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)) }

    /// Runs `body(i)` for i in 0..<count, concurrently when count > 1 and threads > 1.
    /// Coarse-grained: use it for work of at least tens of microseconds (an empty fork
    /// costs about 1 us).
    @inlinable
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
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
    public func chunks(_ total: Int, work: Int, minWork: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
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

    /// `body`'s wall time added to the profiler's `kind`, when profiling.
    @inlinable
    public func measure<T>(_ kind: ProfileKind, _ body: () -> T) -> T {
        guard let profiler, profiler.enabled else { return body() }
        return profiler.measure(kind, body)
    }

    /// Adds executed multiply-accumulates to the profiler's count, when counting.
    @inlinable
    public func countMACs(_ macs: @autoclosure () -> Int) {
        if let profiler, profiler.countingMACs { profiler.executedMACs += macs() }
    }
}

/// Where a layer being built takes its scratch buffers: pools shared with other layers, or
/// buffers of its own. Used only while building (a layer keeps the buffers it took), so it
/// is a construction argument, not part of the `Engine` every call carries.
public struct ScratchPools: Sendable {
    /// A pool shared by the candidate operators of one choice block (only one of them runs
    /// in a step), or nil for buffers of the layer's own.
    public var forward: BufferPool?
    /// The pool for the buffers that only backward uses (input gradients, gradient
    /// columns): several blocks can share one, since a block's backward is over before the
    /// one two blocks earlier starts (its own result is read by the block before it, which
    /// takes the other pool).
    public var backward: BufferPool?

    /// Buffers of the layer's own.
    public init(forward: BufferPool? = nil, backward: BufferPool? = nil) {
        self.forward = forward
        self.backward = backward
    }

    /// A buffer for the layer's forward (or one both passes use): the pool's next one, or a new one.
    public func buffer() -> ScratchBuffer { forward?.next() ?? ScratchBuffer() }

    /// A buffer that only the layer's backward writes.
    public func gradientBuffer() -> ScratchBuffer { backward?.next() ?? ScratchBuffer() }
}

/// Scratch buffers shared by alternatives that never run in the same step: the candidate
/// operators of one choice block. Each operator's layers take buffers in the order they are
/// built, starting over for every operator (`restart`), so the k-th buffer of every
/// operator is the same one, grown to the largest size any of them needs. Activations of a
/// block then cost one operator's worth, not one per candidate.
public final class BufferPool: @unchecked Sendable {
    private var buffers: [ScratchBuffer] = []
    private var cursor = 0
    public init() {}

    /// The next operator starts taking buffers from the first one again.
    public func restart() { cursor = 0 }

    public func next() -> ScratchBuffer {
        if cursor == buffers.count { buffers.append(ScratchBuffer()) }
        defer { cursor += 1 }
        return buffers[cursor]
    }

    /// Buffers handed out so far (the most any operator took).
    public var count: Int { buffers.count }
}

/// Wraps a non-Sendable value for `concurrentPerform`; callers keep the writes of the
/// parallel iterations disjoint.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

/// Kinds of work the per-layer-kind time breakdown reports.
public enum ProfileKind: Int, CaseIterable, Sendable {
    case pointwiseConv, denseConv, depthwise, batchNorm, channelOps, poolAndLinear

    public var label: String {
        switch self {
        case .pointwiseConv: return "conv 1x1 (GEMM)"
        case .denseConv: return "conv kxk (im2col + GEMM)"
        case .depthwise: return "depthwise conv"
        case .batchNorm: return "batch norm (+ fused ReLU)"
        case .channelOps: return "split/concat/shuffle/add"
        case .poolAndLinear: return "pool + linear"
        }
    }
}

/// Wall-clock accounting by layer kind and a count of executed multiply-accumulates, for
/// the networks whose `Engine` carries it. Used from the thread that runs the network
/// (layers call it outside their parallel sections), hence unchecked Sendable.
public final class Profiler: @unchecked Sendable {
    /// Time accounting on (one clock read per layer call).
    public var enabled = false
    /// When on, layers add the multiply-accumulates they execute to `executedMACs` (per
    /// batch, not per image); used to check the analytic cost model against reality.
    public var countingMACs = false
    public var executedMACs = 0
    @usableFromInline var seconds = [Double](repeating: 0, count: ProfileKind.allCases.count)

    public init(enabled: Bool = false, countingMACs: Bool = false) {
        self.enabled = enabled
        self.countingMACs = countingMACs
    }

    @inlinable
    func measure<T>(_ kind: ProfileKind, _ body: () -> T) -> T {
        var t0 = timespec(), t1 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t0)
        let r = body()
        clock_gettime(CLOCK_MONOTONIC, &t1)
        seconds[kind.rawValue] += Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9
        return r
    }

    public func reset() {
        seconds = [Double](repeating: 0, count: ProfileKind.allCases.count)
        executedMACs = 0
    }

    /// Accumulated seconds per kind label.
    public var totals: [String: Double] {
        Dictionary(uniqueKeysWithValues: ProfileKind.allCases.map { ($0.label, seconds[$0.rawValue]) })
    }
}
