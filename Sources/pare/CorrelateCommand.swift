import ArgumentParser
import Datasets
import Distributed
import Foundation
import Runs
import Scoring
import Spaces
import Networks
import TensorCore

struct CorrelateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "correlate",
        abstract: "How well does the supernet rank candidates? Kendall tau and Spearman rho between inherited-weight scores and stand-alone training.",
        discussion: """
        Draws K random architectures of the run's space, scores each with the supernet's inherited weights \
        (as `pare search` does; once per --finetune-steps value) and trains each from scratch for a short \
        schedule with the run's recipe (once per --standalone-seeds), then compares the rankings. Also \
        reported: how well MACs alone rank, and with several seeds, how well one stand-alone seed ranks \
        another (the noise ceiling of this check). Writes RUN/correlate.json (or --out).
        """)

    @Option(name: .customLong("run"), help: "Run directory with a trained supernet.") var runDirectory: String
    @Option(help: "Random architectures (default 10).") var samples = 10
    @Option(help: "Stand-alone training epochs per architecture (default 2).") var epochs = 2
    @Option(help: "Training images per stand-alone epoch (default: the whole training split).") var trainImages: Int?
    @Option(help: "Validation images for both scores (default: the whole validation split).") var validationImages: Int?
    @Option(help: "Stand-alone trainings per architecture with different seeds; their mean is the reference (default 1).")
    var standaloneSeeds = 1
    @Option(help: "Comma-separated finetune steps before scoring, one score per value, as `pare search --finetune-steps` (default 0).")
    var finetuneSteps = "0"
    @Option(help: "Peak learning rate of those steps (default 0.01).") var finetuneLr: Float = 0.01
    @Option(help: "Reuse the architectures and stand-alone results of an earlier correlate.json (same space and validation split) instead of training them again: compare other supernets or scoring settings against one reference. With more --standalone-seeds than it holds, the missing seeds are trained (its schedule, this run's recipe).")
    var standaloneFrom: String?
    @Option(help: "Random seed (architectures, stand-alone init and data order).") var seed: UInt64 = 0
    @Flag(help: "Spread the architectures over the space's whole MACs range (one per equal-width cost bin) instead of drawing them uniformly (which crowds them around the middle).")
    var spread = false
    @Option(help: "Where to write the results (default RUN/correlate.json).") var out: String?
    @Option(help: "Engine threads (default: all cores; under MPI, the cores shared among this machine's ranks).") var threads: Int?
    @Flag(help: "Initialise MPI even when no MPI launcher started this process (mpirun does it anyway).") var mpi = false

    func run() throws {
        try reportingErrors {
            let job = try Job.communicator(force: mpi)
            let engine = startEngine(threads: threads ?? jobThreads(job))
            let writer = job.isWriter
            func say(_ line: String) { if writer { logLine(line) } }
            guard samples >= 3, epochs >= 1, standaloneSeeds >= 1 else {
                throw UserError("--samples must be at least 3, --epochs and --standalone-seeds at least 1")
            }
            let stepsList = finetuneSteps.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !stepsList.isEmpty, stepsList.allSatisfy({ ($0 ?? -1) >= 0 }), Set(stepsList).count == stepsList.count,
                  finetuneLr > 0, finetuneLr.isFinite else {
                throw UserError("--finetune-steps: '\(finetuneSteps)' is not a comma-separated list of distinct step counts >= 0 (and --finetune-lr must be positive)")
            }
            let variants = stepsList.map { $0! }
            let (dir, config) = try openTrainedRun(runDirectory)
            let trained = try TrainedSupernet(dir, config, engine: engine)
            let trainAll = trained.train, val = trained.validation, norm = trained.normalization, checkpoint = trained.checkpoint
            let validation = validationImages.map { val.subset(0..<min(max($0, 1), val.count)) } ?? val
            let scorers = variants.map {
                InheritedWeightScorer(network: trained.network, train: trainAll, validation: validation, normalization: norm,
                                      calibrationImages: CalibrationSet.defaultImages, seed: seed, finetuneSteps: $0, finetuneLearningRate: finetuneLr,
                                      recipe: config.recipe, augmentation: config.augmentation)
            }
            let reused = try standaloneFrom.map { try StandaloneReference.load($0, space: config.space, validationImages: validation.count) }
            let archs = try reused?.architectures ?? RankingStudy.drawArchitectures(config.space, samples: samples, seed: seed, spread: spread)
            let epochs = reused?.epochs ?? self.epochs
            // More --standalone-seeds than the reused file holds trains the missing ones.
            let standaloneSeeds = max(reused?.seeds ?? 1, self.standaloneSeeds)
            let trainCount = min(max(reused?.trainImages ?? trainImages ?? trainAll.count, config.recipe.batchSize), trainAll.count)
            let train = trainAll.subset(0..<trainCount)
            let baseSeed = reused?.seed ?? seed
            let samples = archs.count
            let evalLoader = BatchLoader(dataset: validation, batchSize: 500, normalization: norm, shuffle: false, dropLast: false)
            say("pare correlate: \(samples) architectures of \(config.space.name), supernet \(checkpoint); stand-alone \(epochs) epochs on \(trainCount) images x \(standaloneSeeds) seeds\(standaloneFrom.map { " (from \($0))" } ?? ""), scored on \(validation.count)")
            var scores = [[Double]](repeating: [], count: variants.count)
            var standalone = [[Double]](repeating: [], count: standaloneSeeds)  // [seed][arch]
            var rows: [[String: Any]] = []
            let start = Date()
            // Under MPI the architectures are dealt round-robin over the ranks (rank r: r, r + P, ...),
            // each scored and trained where it lands; one gather brings every result to every rank.
            let width = variants.count + standaloneSeeds
            var mine: [Double] = []
            for i in stride(from: job.rank, to: samples, by: job.size) {
                let a = archs[i]
                for scorer in scorers { mine.append(try scorer.score(a)) }
                for r in 0..<standaloneSeeds {
                    if let reused, r < reused.seeds { mine.append(reused.accuracies[i][r]); continue }
                    let s = baseSeed &+ UInt64(r) &* 7919
                    mine.append(try RankingStudy.trainStandalone(a, space: config.space, config: config, train: train, epochs: epochs, norm: norm,
                                                                 evalLoader: evalLoader, initSeed: s &+ UInt64(i) &+ 1, dataSeed: s &+ 1000 &+ UInt64(i),
                                                                 engine: engine))
                }
                logLine((job.size > 1 ? "rank \(job.rank): " : "") + "\(i + 1)/\(samples) done (\(Int(Date().timeIntervalSince(start))) s)")
            }
            let gathered = try job.allgather(mine)
            guard writer else { return }
            print(variants.map { $0 == 0 ? " inherited" : String(format: "  ft%-6d", $0) }.joined() + "  stand-alone   MMACs  architecture")
            for (i, a) in archs.enumerated() {
                let values = Array(gathered[i % job.size][((i / job.size) * width)..<((i / job.size + 1) * width)])
                for v in 0..<variants.count { scores[v].append(values[v]) }
                for r in 0..<standaloneSeeds { standalone[r].append(values[variants.count + r]) }
                let mean = (0..<standaloneSeeds).map { standalone[$0][i] }.reduce(0, +) / Double(standaloneSeeds)
                let macs = config.space.cost(a).macs
                rows.append(["arch": a.description, "macs": macs, "standalone_accuracy": mean,
                             "standalone_accuracies": (0..<standaloneSeeds).map { standalone[$0][i] },
                             "scores": Dictionary(uniqueKeysWithValues: variants.enumerated().map { ("finetune_\($0.element)", scores[$0.offset][i]) }),
                             "inherited_score": variants.firstIndex(of: 0).map { scores[$0][i] as Any } ?? NSNull()])
                print(scores.map { String(format: "   %.4f", $0[i]) }.joined() + String(format: "      %.4f   %6.3f  %@", mean, Double(macs) / 1e6, a.description))
            }
            let reference = (0..<archs.count).map { i in (0..<standaloneSeeds).map { standalone[$0][i] }.reduce(0, +) / Double(standaloneSeeds) }
            func show(_ v: Double) -> String { v.isFinite ? String(format: "%.3f", v) : "undefined (a score is constant)" }
            func json(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
            var variantRows: [[String: Any]] = []
            for (v, steps) in variants.enumerated() {
                let (tau, perSeed) = RankingStudy.tau(scores[v], standalone: standalone)
                let rho = RankCorrelation.spearman(scores[v], reference)
                variantRows.append(["finetune_steps": steps, "kendall_tau": json(tau), "spearman_rho": json(rho), "kendall_tau_single_seed": json(perSeed)])
                let label = steps == 0 ? "inherited weights" : "after \(steps) finetune steps"
                let single = standaloneSeeds > 1 ? " (against single seeds: tau \(show(perSeed)))" : ""
                print("\(label): Kendall tau \(show(tau)), Spearman rho \(show(rho)) over \(samples) architectures\(single)")
            }
            let (macsTau, macsSingle) = RankingStudy.tau(archs.map { Double(config.space.cost($0).macs) }, standalone: standalone)
            print("MACs alone: Kendall tau \(show(macsTau))" + (standaloneSeeds > 1 ? " (against single seeds: \(show(macsSingle)))" : ""))
            let seedTau = RankingStudy.seedToSeedTau(standalone)
            if standaloneSeeds >= 2 { print("one stand-alone seed vs another (noise ceiling): Kendall tau \(show(seedTau))") }
            print("(\(Int(Date().timeIntervalSince(start))) s)")
            let first = variantRows[0]  // top-level tau/rho: the first --finetune-steps value
            try AtomicFile.writeJSON(["kendall_tau": first["kendall_tau"]!, "spearman_rho": first["spearman_rho"]!, "variants": variantRows,
                                      "macs_kendall_tau": json(macsTau), "macs_kendall_tau_single_seed": json(macsSingle), "seed_to_seed_kendall_tau": json(seedTau),
                                      "samples": samples, "standalone_epochs": epochs, "standalone_seeds": standaloneSeeds,
                                      "finetune_lr": Double(finetuneLr), "spread": reused?.spread ?? spread, "seed": baseSeed,
                                      "standalone_from": standaloneFrom.map { $0 as Any } ?? NSNull(), "train_images": trainCount, "validation_images": validation.count,
                                      "supernet_checkpoint": checkpoint, "architectures": rows],
                                     to: out ?? dir.file("correlate.json"))
        }
    }
}
