import Foundation

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

/// Opt-in wall-clock accounting by layer kind (off by default: one branch per layer call).
/// Single-threaded callers only; the layers call it from the orchestrating thread.
public enum Profiler {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) private static var seconds = [Double](repeating: 0, count: ProfileKind.allCases.count)

    @inlinable
    public static func measure<T>(_ kind: ProfileKind, _ body: () -> T) -> T {
        if !enabled { return body() }
        var t0 = timespec(), t1 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t0)
        let r = body()
        clock_gettime(CLOCK_MONOTONIC, &t1)
        add(kind, Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9)
        return r
    }

    @usableFromInline
    static func add(_ kind: ProfileKind, _ s: Double) { seconds[kind.rawValue] += s }

    /// When on, layers add the multiply-accumulates they execute to `executedMACs` (per
    /// batch, not per image); used to check the analytic cost model against reality.
    nonisolated(unsafe) public static var countingMACs = false
    nonisolated(unsafe) public static var executedMACs = 0

    @inlinable
    public static func countMACs(_ macs: @autoclosure () -> Int) {
        if countingMACs { executedMACs += macs() }
    }

    public static func reset() { seconds = [Double](repeating: 0, count: ProfileKind.allCases.count) }

    /// Accumulated seconds per kind label.
    public static var totals: [String: Double] {
        Dictionary(uniqueKeysWithValues: ProfileKind.allCases.map { ($0.label, seconds[$0.rawValue]) })
    }
}
