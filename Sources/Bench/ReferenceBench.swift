import Foundation
import Datasets
import Layers
import Spaces
import Networks
import TensorCore
import Training

/// `pare bench`: the rows of the PyTorch peer benchmark (`peer_torch.py --mode bench`) on the same
/// supernet, same batch sizes, warm-ups and repeat counts.
public struct BenchOptions: Sendable {
    public var repeats = 9
    public var seed: UInt64 = 0
    public var rows: Set<BenchRow> = []   // empty: all
    public var profile = false
    public init() {}
}

/// A row of the bench, by the peer benchmark's name.
public enum BenchRow: String, CaseIterable, Sendable {
    case sgemm, trainRandom = "train_random", trainLargest = "train_largest", trainSmallest = "train_smallest"
    case evalRandom = "eval_random", evalLargest = "eval_largest", recalRandom = "recal_random", recalLargest = "recal_largest"
    /// Random-path training with each supernet quality option (crop, transform, PruningNet, distillation).
    case trainOptions = "train_options"

    /// The rows of a comma-separated list ("train_random, eval_largest"); nil names the first unknown one.
    public static func list(_ text: String) -> (rows: Set<BenchRow>, unknown: String?) {
        var rows = Set<BenchRow>()
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let row = BenchRow(rawValue: name) else { return (rows, name) }
            rows.insert(row)
        }
        return (rows, nil)
    }
}

public struct BenchReport: Codable, Sendable {
    public var engine = "pare"
    public var threads: Int
    public var blasCore: String
    public var sgemmGflops: Summary?
    public var trainRandom: Summary?
    public var trainLargest: Summary?
    public var trainSmallest: Summary?
    public var evalRandomBs500: Summary?
    public var evalLargestBs500: Summary?
    public var recalRandomS: Summary?
    public var recalLargestS: Summary?
    /// Random-path training of the reference space with each supernet quality option
    /// (crop / transform kernel sharing, PruningNet, in-place distillation), img/s: what
    /// each option costs against `trainRandom` in the same run.
    public var trainOptions: [String: Summary]?
    /// Achieved GFLOP/s of the rows above (2 flops per MAC; a training step counted as
    /// 3x the forward MACs), from each row's median.
    public var achievedGflops: [String: Double] = [:]
    /// Seconds per training step by layer kind (profiled random-path steps), if asked.
    public var trainStepBreakdownMs: [String: Double]?
    /// Milliseconds per batch-500 inference by layer kind (profiled random paths), if asked.
    public var evalBreakdownMs: [String: Double]?
    /// Milliseconds per 20x128 BN recalibration by layer kind (profiled random paths), if asked.
    public var recalBreakdownMs: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case engine, threads
        case blasCore = "blas_core"
        case sgemmGflops = "sgemm_gflops"
        case trainRandom = "train_random"
        case trainLargest = "train_largest"
        case trainSmallest = "train_smallest"
        case evalRandomBs500 = "eval_random_bs500"
        case evalLargestBs500 = "eval_largest_bs500"
        case recalRandomS = "recal_random_s"
        case recalLargestS = "recal_largest_s"
        case trainOptions = "train_options"
        case achievedGflops = "achieved_gflops"
        case trainStepBreakdownMs = "train_step_breakdown_ms"
        case evalBreakdownMs = "eval_bs500_breakdown_ms"
        case recalBreakdownMs = "recal_breakdown_ms"
    }
}

public final class ReferenceBench {
    let options: BenchOptions
    let space = SearchSpace.reference
    let rng: RNG
    let log: (String) -> Void

    /// The bench's engine: the caller's threads, with a profiler for the breakdown rows.
    let engine: Engine

    public init(options: BenchOptions, engine: Engine, log: @escaping (String) -> Void) {
        self.options = options
        self.engine = Engine(threads: engine.threads, profiler: Profiler())
        rng = RNG(seed: options.seed)
        self.log = log
    }

    func wants(_ row: BenchRow) -> Bool { options.rows.isEmpty || options.rows.contains(row) }

    public func run() -> BenchReport {
        var report = BenchReport(threads: engine.threads, blasCore: BLAS.coreName)
        let largest = space.largest, smallest = space.smallest
        let randomPath = { [space, rng] in space.randomArchitecture(rng) }
        let meanRandomMACs = averageRandomMACs()
        if wants(.sgemm) {
            report.sgemmGflops = benchSGEMM()
            log("sgemm 1024^2: \(fmt(report.sgemmGflops!.median)) GFLOP/s")
        }
        let net = Supernet(space: space, rng: rng, engine: engine)
        func record(_ key: String, _ s: Summary, macs: Double, flopsPerUnit: Double, perSecond: Bool) {
            // perSecond: the value is images/s; otherwise seconds per run of `flopsPerUnit` images.
            let gflops = perSecond ? s.median * macs * flopsPerUnit / 1e9 : macs * flopsPerUnit / s.median / 1e9
            report.achievedGflops[key] = (gflops * 10).rounded() / 10
        }
        if wants(.trainRandom) {
            let s = benchTrain(net, path: randomPath)
            report.trainRandom = s
            record("train_random", s, macs: meanRandomMACs, flopsPerUnit: 6, perSecond: true)
            log("train random path  : \(fmt(s.median)) img/s")
        }
        if wants(.trainLargest) {
            let s = benchTrain(net, path: { largest })
            report.trainLargest = s
            record("train_largest", s, macs: Double(space.cost(largest).macs), flopsPerUnit: 6, perSecond: true)
            log("train largest path : \(fmt(s.median)) img/s")
        }
        if wants(.trainSmallest) {
            let s = benchTrain(net, path: { smallest })
            report.trainSmallest = s
            record("train_smallest", s, macs: Double(space.cost(smallest).macs), flopsPerUnit: 6, perSecond: true)
            log("train smallest path: \(fmt(s.median)) img/s")
        }
        if wants(.evalRandom) {
            let s = benchEval(net, path: randomPath)
            report.evalRandomBs500 = s
            record("eval_random_bs500", s, macs: meanRandomMACs, flopsPerUnit: 2, perSecond: true)
            log("eval random bs500  : \(fmt(s.median)) img/s")
        }
        if wants(.evalLargest) {
            let s = benchEval(net, path: { largest })
            report.evalLargestBs500 = s
            record("eval_largest_bs500", s, macs: Double(space.cost(largest).macs), flopsPerUnit: 2, perSecond: true)
            log("eval largest bs500 : \(fmt(s.median)) img/s")
        }
        if wants(.recalRandom) {
            let s = benchRecalibration(net, path: randomPath)
            report.recalRandomS = s
            record("recal_random_s", s, macs: meanRandomMACs, flopsPerUnit: 2 * 20 * 128, perSecond: false)
            log("recal random 20x128: \(fmt(s.median)) s")
        }
        if wants(.recalLargest) {
            let s = benchRecalibration(net, path: { largest })
            report.recalLargestS = s
            record("recal_largest_s", s, macs: Double(space.cost(largest).macs), flopsPerUnit: 2 * 20 * 128, perSecond: false)
            log("recal largest 20x128: \(fmt(s.median)) s")
        }
        if wants(.trainOptions) {
            var rows: [String: Summary] = [:]
            for (name, sharing, generated) in [("crop", KernelSharing.centreCrop, false), ("transform", .transform, false), ("pruning_net", .separate, true)] {
                var variant = space
                variant.kernelSharing = sharing
                variant.pruningNet = generated
                rows[name] = benchTrain(Supernet(space: variant, rng: rng, engine: engine), path: randomPath)
                log("train random, \(name): \(fmt(rows[name]!.median)) img/s")
            }
            // One distillation step trains four paths (largest, smallest, two random) on one batch.
            var crop = space
            crop.kernelSharing = .centreCrop
            let sampler = try! ArchitectureSampler(space: crop, strategy: .distill(random: 2))
            rows["crop_distill"] = benchTrain(Supernet(space: crop, rng: rng, engine: engine), path: randomPath,
                                              paths: { try! sampler.nextPaths(rng: self.rng) }, warmup: 5, steps: 3)
            log("train crop + distill (batches of 4 paths): \(fmt(rows["crop_distill"]!.median)) img/s")
            report.trainOptions = rows
        }
        if options.profile {
            report.trainStepBreakdownMs = profileTrainStep(net, path: randomPath)
            report.evalBreakdownMs = profileEval(net, path: randomPath)
            report.recalBreakdownMs = profileRecalibration(net, path: randomPath)
        }
        return report
    }

    func averageRandomMACs() -> Double {
        let r = RNG(seed: 12345)
        var total = 0.0
        for _ in 0..<10_000 { total += Double(space.cost(space.randomArchitecture(r)).macs) }
        return total / 10_000
    }

    func fmt(_ v: Double) -> String { String(Double(Int(v * 1000)) / 1000) }

    /// A batch of standard-normal images [1, 28, 28, n] plus random labels.
    func syntheticBatch(_ n: Int, _ buffer: ScratchBuffer) -> (FeatureMap, [Int32]) {
        let x = buffer.featureMap(channels: space.inputChannels, height: space.inputSize, width: space.inputSize, batch: n)
        for i in 0..<x.count { x.pointer[i] = Float(rng.normal()) }
        let labels = (0..<n).map { _ in Int32(rng.int(below: space.classes)) }
        return (x, labels)
    }

    func measure(repeats: Int, _ body: () -> Double) -> Summary {
        var values: [Double] = [], foreign: [Double] = []
        for _ in 0..<repeats {
            var probe = LoadProbe()
            probe.start()
            let units = body()
            let (wall, f) = probe.stop()
            values.append(units.isNaN ? wall : units / wall)
            foreign.append(f)
        }
        return Summary(values: values, foreign: foreign)
    }

    func benchSGEMM(n: Int = 1024, inner: Int = 25) -> Summary {
        let a = ScratchBuffer(), b = ScratchBuffer(), c = ScratchBuffer()
        let pa = a.reserve(n * n), pb = b.reserve(n * n), pc = c.reserve(n * n)
        for i in 0..<(n * n) { pa[i] = Float(rng.normal()); pb[i] = Float(rng.normal()) }
        let run = { GEMM.multiply(m: n, n: n, k: n, a: pa, lda: n, b: pb, ldb: n, beta: 0, c: pc, ldc: n, engine: self.engine) }
        for _ in 0..<5 { run() }
        return measure(repeats: 21) {
            for _ in 0..<inner { run() }
            return Double(inner) * 2 * Double(n * n * n) / 1e9
        }
    }

    /// `paths` (distillation): the paths of each step, the teacher first.
    func benchTrain(_ net: Supernet, path: () -> Architecture, paths: (() -> [Architecture])? = nil,
                    batch: Int = 128, warmup: Int = 20, steps: Int = 10) -> Summary {
        let buffers = (0..<4).map { _ in ScratchBuffer() }
        let batches = buffers.map { syntheticBatch(batch, $0) }
        let total = warmup + options.repeats * steps
        let trainer = Trainer(network: net, recipe: Recipe(), totalSteps: total)
        var i = 0
        func step() {
            let (x, y) = batches[i % 4]
            if let paths { _ = trainer.train(images: x, labels: y, distilling: paths()) } else { _ = trainer.train(images: x, labels: y, arch: path()) }
            i += 1
        }
        for _ in 0..<warmup { step() }
        // The maps are views into `buffers`: keep those alive through the timed region.
        return withExtendedLifetime(buffers) {
            measure(repeats: options.repeats) {
                for _ in 0..<steps { step() }
                return Double(batch * steps)
            }
        }
    }

    func benchEval(_ net: Supernet, path: () -> Architecture, batch: Int = 500, paths: Int = 5) -> Summary {
        let buffer = ScratchBuffer()
        let (x, _) = syntheticBatch(batch, buffer)
        for _ in 0..<3 { _ = net.forward(x, arch: path(), mode: .inference) }
        return withExtendedLifetime(buffer) {
            measure(repeats: max(options.repeats - 2, 1)) {
                for _ in 0..<paths { _ = net.forward(x, arch: path(), mode: .inference) }
                return Double(batch * paths)
            }
        }
    }

    /// The search's recalibration itself (`ArchitectureEvaluator.recalibrate`: batches of
    /// 128 gathered and normalized from a dataset, then forwarded in `.calibrating` mode) on
    /// `count` batches of random 8-bit images.
    func benchRecalibration(_ net: Supernet, path: () -> Architecture, batches count: Int = 20, batch: Int = 128) -> Summary {
        let (loader, indices) = calibrationSet(images: count * batch)
        let evaluator = ArchitectureEvaluator(network: net)
        evaluator.recalibrate(arch: path(), loader: loader, indices: Array(indices.prefix(2 * batch)))
        return measure(repeats: max(options.repeats - 2, 1)) {
            evaluator.recalibrate(arch: path(), loader: loader, indices: indices)
            return .nan  // report seconds
        }
    }

    /// Random images in a dataset, a loader of batch 128 over them and their indices.
    func calibrationSet(images: Int) -> (BatchLoader, [Int]) {
        let pixels = (0..<(images * space.inputChannels * space.inputSize * space.inputSize)).map { _ in UInt8(rng.int(below: 256)) }
        let labels = (0..<images).map { _ in Int32(rng.int(below: space.classes)) }
        let data = Dataset(name: "bench", channels: space.inputChannels, height: space.inputSize, width: space.inputSize,
                           classes: space.classes, pixels: pixels, labels: labels)
        let loader = BatchLoader(dataset: data, batchSize: 128, normalization: Normalization.fit(data), shuffle: false, dropLast: false)
        return (loader, Array(0..<images))
    }

    func profileTrainStep(_ net: Supernet, path: () -> Architecture, steps: Int = 30) -> [String: Double] {
        let buffers = (0..<4).map { _ in ScratchBuffer() }
        let batches = buffers.map { syntheticBatch(128, $0) }
        let trainer = Trainer(network: net, recipe: Recipe(), totalSteps: steps)
        return withExtendedLifetime(buffers) {
            profile(steps: steps) { i in
                _ = trainer.train(images: batches[i % 4].0, labels: batches[i % 4].1, arch: path())
            }
        }
    }

    func profileEval(_ net: Supernet, path: () -> Architecture, steps: Int = 20) -> [String: Double] {
        let buffer = ScratchBuffer()
        let (x, _) = syntheticBatch(500, buffer)
        return withExtendedLifetime(buffer) {
            profile(steps: steps) { _ in _ = net.forward(x, arch: path(), mode: .inference) }
        }
    }

    func profileRecalibration(_ net: Supernet, path: () -> Architecture, steps: Int = 5) -> [String: Double] {
        let (loader, indices) = calibrationSet(images: 20 * 128)
        let evaluator = ArchitectureEvaluator(network: net)
        return profile(steps: steps) { _ in evaluator.recalibrate(arch: path(), loader: loader, indices: indices) }
    }

    /// Runs `body` `steps` times with the profiler on; milliseconds per step by kind.
    func profile(steps: Int, _ body: (Int) -> Void) -> [String: Double] {
        let profiler = engine.profiler!
        profiler.reset()
        profiler.enabled = true
        let t0 = monotonicSeconds()
        for i in 0..<steps { body(i) }
        let wall = monotonicSeconds() - t0
        profiler.enabled = false
        var out: [String: Double] = [:]
        var attributed = 0.0
        for (kind, seconds) in profiler.totals {
            out[kind] = (seconds / Double(steps) * 1e5).rounded() / 100
            attributed += seconds
        }
        out["other (loss, optimizer, glue)"] = ((wall - attributed) / Double(steps) * 1e5).rounded() / 100
        out["total"] = (wall / Double(steps) * 1e5).rounded() / 100
        return out
    }
}
