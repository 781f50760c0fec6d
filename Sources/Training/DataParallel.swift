import Datasets
import Layers
import Networks
import TensorCore

/// Data-parallel training over the processes of a job: every process runs the same
/// TrainingRun (same seed, so the same data order, paths and initial weights), takes its
/// shard of each global batch, and sums the gradients of the path's parameters over the job
/// in one call per step (one fused buffer) before the same update everywhere.
public struct DataParallel {
    public var rank: Int
    public var size: Int
    public var job: CrossProcessSum
    public init(rank: Int, size: Int, job: CrossProcessSum) {
        precondition(size >= 1 && (0..<size).contains(rank), "rank \(rank) of \(size)")
        self.rank = rank; self.size = size; self.job = job
    }
}

/// The per-step work of data parallelism, kept by a TrainingRun.
final class DataParallelStep {
    let plan: DataParallel
    private let images = ScratchBuffer()
    private var fused: [Float] = []
    /// Whether any process of the job was interrupted (Ctrl-C) by the last step: summed with
    /// the gradients, so every process stops after the same step.
    private(set) var interrupted = false
    /// Set by the process's own signal handler; read at each step.
    var localInterrupt: () -> Bool = { false }

    init(_ plan: DataParallel) { self.plan = plan }

    /// This process's images and labels of the global batch: a contiguous range of samples.
    func shard(_ x: FeatureMap, _ labels: [Int32]) -> (FeatureMap, [Int32]) {
        let b = x.batch / plan.size, first = plan.rank * b
        let local = images.featureMap(channels: x.channels, height: x.height, width: x.width, batch: b)
        // Batch is innermost: each (c, h, w) row holds the samples side by side.
        for row in 0..<(x.channels * x.height * x.width) {
            (local.pointer + row * b).update(from: x.pointer + row * x.batch + first, count: b)
        }
        return (local, Array(labels[first..<(first + b)]))
    }

    /// Sums the touched parameters' gradients over the job and averages them (each process's
    /// loss is the mean over its shard; the global loss is the mean of those).
    func reduce(_ parameters: [Parameter]) {
        let touched = parameters.filter(\.touched)
        let total = touched.reduce(0) { $0 + $1.count } + 1
        if fused.count < total { fused = [Float](repeating: 0, count: total) }
        fused.withUnsafeMutableBufferPointer { buffer in
            let f = buffer.baseAddress!
            var offset = 0
            for p in touched { (f + offset).update(from: p.grad, count: p.count); offset += p.count }
            f[offset] = localInterrupt() ? 1 : 0
            plan.job.sum(f, count: total)
            interrupted = f[offset] > 0
            let scale = 1 / Float(plan.size)
            offset = 0
            for p in touched {
                for i in 0..<p.count { p.grad[i] = f[offset + i] * scale }
                offset += p.count
            }
        }
    }
}
