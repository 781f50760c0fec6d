import Datasets
import Foundation
import Layers
import Networks
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

/// Ranks of a data-parallel job as threads of this process: each sum waits for every rank's
/// contribution, adds them in rank order and hands the total back to all.
final class ThreadJob: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived: [Int: [Double]] = [:]
    private var result: [Double] = []
    private var generation = 0
    private var taken = 0

    init(size: Int) { self.size = size }

    func sum(rank: Int, _ values: [Double]) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        while arrived.count == size { condition.wait() }   // the previous sum is still being read
        let mine = generation
        arrived[rank] = values
        if arrived.count == size {
            result = (0..<size).map { arrived[$0]! }.reduce([Double](repeating: 0, count: values.count)) { zip($0, $1).map { $0 + $1 } }
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        let out = result
        taken += 1
        if taken == size { taken = 0; arrived = [:]; condition.broadcast() }
        return out
    }

    final class Rank: CrossProcessSum, @unchecked Sendable {
        let job: ThreadJob, rank: Int
        init(_ job: ThreadJob, _ rank: Int) { self.job = job; self.rank = rank }
        func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {
            let s = job.sum(rank: rank, Array(UnsafeBufferPointer(start: values, count: count)))
            values.update(from: s, count: count)
        }
        func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {
            let s = job.sum(rank: rank, (0..<count).map { Double(values[$0]) })
            for i in 0..<count { values[i] = Float(s[i]) }
        }
    }
}

@Suite("Data-parallel training") struct DataParallelTests {
    func run(_ sampling: SamplingStrategy, sharing: KernelSharing, ranks: Int, rank: Int = 0, job: ThreadJob? = nil, steps: Int) throws -> [[Float]] {
        var space = try tinySpace()
        space.kernelSharing = sharing
        let (train, val) = try tinyData()
        var config = TrainConfig(space: space, spaceFile: "tiny.yaml", data: "synthetic")
        config.epochs = 3
        config.recipe.batchSize = 32
        config.sampling = sampling
        config.probes = 0
        var engine = Engine(threads: 1)
        var parallel: DataParallel?
        if let job {
            let sum = ThreadJob.Rank(job, rank)
            engine.batchStatistics = sum
            parallel = DataParallel(rank: rank, size: ranks, job: sum)
        }
        let t = try TrainingRun(config: config, train: train, validation: val, normalization: Normalization.fit(train), engine: engine,
                                dataParallel: parallel)
        for _ in 0..<steps { _ = try t.trainStep() }
        return t.network.parameters.map { Array(UnsafeBufferPointer(start: $0.value, count: $0.count)) }
            + t.network.norms.map { Array(UnsafeBufferPointer(start: $0.runningMean, count: $0.maxChannels)) }
    }

    @Test("two ranks with synchronized BN and global batch B train the weights of one process with batch B",
          arguments: ["uniform", "sandwich", "distill", "fair", "band", "uniform+crop"])
    func twoRanksEqualOne(strategy: String) throws {
        BLAS.configure()
        let sampling: SamplingStrategy = strategy == "sandwich" ? .sandwich : strategy == "distill" ? .distill(random: 1)
            : strategy == "fair" ? .fair : strategy == "band" ? .flopsBand(minMACs: 60_000, maxMACs: 120_000) : .uniform
        let sharing: KernelSharing = strategy.hasSuffix("crop") ? .centreCrop : .separate
        let single = try run(sampling, sharing: sharing, ranks: 1, steps: 7)
        let job = ThreadJob(size: 2)
        final class Outcome: @unchecked Sendable { var weights: [[[Float]]] = [[], []]; var failure: String? }
        let outcome = Outcome(), lock = NSLock(), done = DispatchSemaphore(value: 0)
        // One thread per rank (a thread pool could run both on one thread and wait forever).
        for r in 0..<2 {
            let me = self
            Thread {
                do {
                    let w = try me.run(sampling, sharing: sharing, ranks: 2, rank: r, job: job, steps: 7)
                    lock.lock(); outcome.weights[r] = w; lock.unlock()
                } catch { lock.lock(); outcome.failure = "\(error)"; lock.unlock() }
                done.signal()
            }.start()
        }
        done.wait(); done.wait()
        #expect(outcome.failure == nil)
        #expect(outcome.weights[0] == outcome.weights[1], "every rank holds the same weights")
        var worst: Float = 0
        for (a, b) in zip(single, outcome.weights[0]) { worst = max(worst, maxAbsDifference(a, b)) }
        // Float sums in another order (two halves of the batch, then their sum): not bit-equal.
        #expect(worst <= 1e-4, "largest difference \(worst)")
    }
}
