import Datasets
import Distributed
import Foundation
import Networks
import Runs
import Scoring
import Spaces
import TensorCore

/// `pare correlate`: how well a supernet ranks candidates. Random architectures scored with
/// inherited weights (once per finetune-steps value) and trained from scratch (once per seed).
public struct CorrelateRequest: Sendable {
    public var run: String
    public var samples = 10
    /// Stand-alone training: epochs, training images per epoch (nil: the whole split), seeds.
    public var epochs = 2
    public var trainImages: Int?
    public var standaloneSeeds = 1
    /// Validation images of both scores (nil: the whole split).
    public var validationImages: Int?
    /// Finetune steps before scoring, one score per value, and their peak learning rate.
    public var finetuneSteps = [0]
    public var finetuneLearningRate: Float = 0.01
    /// An earlier correlate.json whose architectures and stand-alone results are reused.
    public var standaloneFrom: String?
    public var seed: UInt64 = 0
    /// One architecture per equal-width MACs bin instead of uniform draws.
    public var spread = false
    /// nil: RUN/correlate.json.
    public var out: String?
    /// Bands of equal count by MACs for the size-controlled tau (nil: 3, fewer for fewer than
    /// 6 architectures), and bootstrap resamples.
    public var macsBands: Int?
    public var bootstrapResamples = 2000
    public init(run: String) { self.run = run }
}

/// The study on the writing rank (the others get nil); also written to `path`.
public struct CorrelateResult: Sendable {
    public struct Row: Sendable {
        public var architecture: Architecture
        public var macs: Int
        /// One per `finetuneSteps` value, and one per stand-alone seed.
        public var scores: [Double]
        public var standalone: [Double]
        public var standaloneMean: Double { standalone.reduce(0, +) / Double(standalone.count) }
    }
    public struct Variant: Sendable {
        public var finetuneSteps: Int
        /// Against the mean of the stand-alone seeds; `tauSingleSeed` against single seeds.
        public var kendallTau: Double
        public var spearmanRho: Double
        public var tauSingleSeed: Double
        /// Intervals, tau within MACs bands (and MACs alone there), top-k regret.
        public var report: RankingReport
    }
    public var rows: [Row]
    public var variants: [Variant]
    public var macsTau: Double
    public var macsTauSingleSeed: Double
    /// One stand-alone seed against another (the noise ceiling; needs two seeds).
    public var seedToSeedTau: Double
    public var standaloneSeeds: Int
    public var seconds: Double
    public var path: String
}

/// Under MPI the architectures are dealt round-robin over the ranks, each scored and trained
/// where it lands; one gather brings every result to every rank.
public func correlate(_ r: CorrelateRequest, job: Communicator, engine: Engine, log: @escaping Log) throws -> CorrelateResult? {
    let writer = job.isWriter
    let say: Log = { if writer { log($0) } }
    guard r.samples >= 3, r.epochs >= 1, r.standaloneSeeds >= 1 else {
        throw UserError("--samples must be at least 3, --epochs and --standalone-seeds at least 1")
    }
    guard (100...1_000_000).contains(r.bootstrapResamples) else { throw UserError("--bootstrap \(r.bootstrapResamples): expected 100...1000000") }
    let variants = r.finetuneSteps
    guard !variants.isEmpty, variants.allSatisfy({ $0 >= 0 }), Set(variants).count == variants.count,
          r.finetuneLearningRate > 0, r.finetuneLearningRate.isFinite else {
        throw UserError("--finetune-steps: \(variants) is not a list of distinct step counts >= 0 (and --finetune-lr must be positive)")
    }
    let (dir, config) = try openTrainedRun(r.run)
    let trained = try TrainedSupernet(dir, config, engine: engine, log: say)
    let trainAll = trained.train, val = trained.validation, norm = trained.normalization, checkpoint = trained.checkpoint
    let validation = r.validationImages.map { val.subset(0..<min(max($0, 1), val.count)) } ?? val
    let scorers = variants.map {
        InheritedWeightScorer(network: trained.network, train: trainAll, validation: validation, normalization: norm,
                              calibration: CalibrationSet(seed: r.seed), finetuneSteps: $0, finetuneLearningRate: r.finetuneLearningRate,
                              recipe: config.recipe, augmentation: config.augmentation)
    }
    let reused = try r.standaloneFrom.map { try StandaloneReference.load($0, space: config.space, validationImages: validation.count) }
    let archs = try reused?.architectures ?? RankingStudy.drawArchitectures(config.space, samples: r.samples, seed: r.seed, spread: r.spread)
    let epochs = reused?.epochs ?? r.epochs
    // More seeds than the reused file holds trains the missing ones.
    let standaloneSeeds = max(reused?.seeds ?? 1, r.standaloneSeeds)
    let trainCount = min(max(reused?.trainImages ?? r.trainImages ?? trainAll.count, config.recipe.batchSize), trainAll.count)
    let train = trainAll.subset(0..<trainCount)
    let baseSeed = reused?.seed ?? r.seed
    let samples = archs.count
    let bands = r.macsBands ?? max(1, min(3, samples / 2))
    guard bands >= 1, bands * 2 <= samples else {
        throw UserError("--macs-bands \(bands): expected 1...\(max(samples / 2, 1)) for \(samples) architectures (two per band at least)")
    }
    let evalLoader = CalibrationSet.validationLoader(validation, normalization: norm)
    say("pare correlate: \(samples) architectures of \(config.space.name), supernet \(checkpoint); stand-alone \(epochs) epochs on \(trainCount) images x \(standaloneSeeds) seeds\(r.standaloneFrom.map { " (from \($0))" } ?? ""), scored on \(validation.count)")
    let start = Date()
    let width = variants.count + standaloneSeeds
    var mine: [Double] = []
    for i in stride(from: job.rank, to: samples, by: job.size) {
        let a = archs[i]
        for scorer in scorers { mine.append(try scorer.score(a)) }
        for k in 0..<standaloneSeeds {
            if let reused, k < reused.seeds { mine.append(reused.accuracies[i][k]); continue }
            let s = baseSeed &+ UInt64(k) &* 7919
            mine.append(try RankingStudy.trainStandalone(a, space: config.space, config: config, train: train, epochs: epochs, norm: norm,
                                                         evalLoader: evalLoader, initSeed: s &+ UInt64(i) &+ 1, dataSeed: s &+ 1000 &+ UInt64(i),
                                                         engine: engine))
        }
        log((job.size > 1 ? "rank \(job.rank): " : "") + "\(i + 1)/\(samples) done (\(Int(Date().timeIntervalSince(start))) s)")
    }
    let gathered = try job.allgather(mine)
    guard writer else { return nil }
    var rows: [CorrelateResult.Row] = []
    for (i, a) in archs.enumerated() {
        let values = Array(gathered[i % job.size][((i / job.size) * width)..<((i / job.size + 1) * width)])
        rows.append(.init(architecture: a, macs: config.space.cost(a).macs, scores: Array(values[0..<variants.count]),
                          standalone: Array(values[variants.count...])))
    }
    let standalone = (0..<standaloneSeeds).map { k in rows.map { $0.standalone[k] } }  // [seed][arch]
    let reference = rows.map(\.standaloneMean)
    let variantResults = variants.enumerated().map { v, steps in
        let scores = rows.map { $0.scores[v] }
        let (tau, perSeed) = RankingStudy.tau(scores, standalone: standalone)
        let report = RankingReport.make(scores: scores, standalone: reference, macs: rows.map { Double($0.macs) }, bands: bands,
                                        resamples: r.bootstrapResamples, seed: baseSeed)
        return CorrelateResult.Variant(finetuneSteps: steps, kendallTau: tau, spearmanRho: RankCorrelation.spearman(scores, reference), tauSingleSeed: perSeed,
                                       report: report)
    }
    let (macsTau, macsSingle) = RankingStudy.tau(rows.map { Double($0.macs) }, standalone: standalone)
    let seedTau = RankingStudy.seedToSeedTau(standalone)
    let path = r.out ?? dir.file("correlate.json")
    func json(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
    let rowsJSON: [[String: Any]] = rows.map { row in
        ["arch": row.architecture.description, "macs": row.macs, "standalone_accuracy": row.standaloneMean, "standalone_accuracies": row.standalone,
         "scores": Dictionary(uniqueKeysWithValues: variants.enumerated().map { ("finetune_\($0.element)", row.scores[$0.offset]) }),
         "inherited_score": variants.firstIndex(of: 0).map { row.scores[$0] as Any } ?? NSNull()]
    }
    func interval(_ i: RankingReport.Interval) -> [Any] { [json(i.lower), json(i.upper)] }
    let variantJSON: [[String: Any]] = variantResults.map {
        let p = $0.report
        return ["finetune_steps": $0.finetuneSteps, "kendall_tau": json($0.kendallTau), "spearman_rho": json($0.spearmanRho), "kendall_tau_single_seed": json($0.tauSingleSeed),
                "kendall_tau_ci95": interval(p.kendallTauInterval), "spearman_rho_ci95": interval(p.spearmanRhoInterval),
                "band_kendall_tau": json(p.bandKendallTau), "band_kendall_tau_ci95": interval(p.bandKendallTauInterval),
                "top_k_regret": Dictionary(uniqueKeysWithValues: p.regret.map { ("\($0.k)", $0.regret) })]
    }
    let sizeOnly = variantResults[0].report
    let first = variantJSON[0]  // top-level tau/rho: the first finetune-steps value
    try AtomicFile.writeJSON(["kendall_tau": first["kendall_tau"]!, "spearman_rho": first["spearman_rho"]!, "variants": variantJSON,
                              "macs_kendall_tau": json(macsTau), "macs_kendall_tau_single_seed": json(macsSingle), "seed_to_seed_kendall_tau": json(seedTau),
                              "macs_kendall_tau_ci95": interval(sizeOnly.macsKendallTauInterval), "macs_bands": bands,
                              "band_macs_kendall_tau": json(sizeOnly.bandMACsKendallTau), "band_macs_kendall_tau_ci95": interval(sizeOnly.bandMACsKendallTauInterval),
                              "bootstrap_resamples": r.bootstrapResamples,
                              "samples": samples, "standalone_epochs": epochs, "standalone_seeds": standaloneSeeds,
                              "finetune_lr": Double(r.finetuneLearningRate), "spread": reused?.spread ?? r.spread, "seed": baseSeed,
                              "standalone_from": r.standaloneFrom.map { $0 as Any } ?? NSNull(), "train_images": trainCount, "validation_images": validation.count,
                              "supernet_checkpoint": checkpoint, "architectures": rowsJSON],
                             to: path)
    return CorrelateResult(rows: rows, variants: variantResults, macsTau: macsTau, macsTauSingleSeed: macsSingle, seedToSeedTau: seedTau,
                           standaloneSeeds: standaloneSeeds, seconds: Date().timeIntervalSince(start), path: path)
}
