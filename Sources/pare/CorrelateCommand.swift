import ArgumentParser
import Distributed
import Foundation
import Scoring
import Workflows

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
    @Option(help: "Comma-separated finetune steps before scoring, one score per value, as `pare search --finetune-steps` (default 0).",
            transform: { text in
                let steps = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !steps.isEmpty, steps.allSatisfy({ ($0 ?? -1) >= 0 }), Set(steps).count == steps.count else {
                    throw ValidationError("--finetune-steps: '\(text.prefix(80))' is not a comma-separated list of distinct step counts >= 0")
                }
                return steps.map { $0! }
            })
    var finetuneSteps: [Int] = [0]
    @Option(help: "Peak learning rate of those steps (default 0.01).") var finetuneLr: Float = 0.01
    @Option(help: "Reuse the architectures and stand-alone results of an earlier correlate.json (same space and validation split) instead of training them again: compare other supernets or scoring settings against one reference. With more --standalone-seeds than it holds, the missing seeds are trained (its schedule, this run's recipe).")
    var standaloneFrom: String?
    @Option(help: "Random seed (architectures, stand-alone init and data order).") var seed: UInt64 = 0
    @Flag(help: "Spread the architectures over the space's whole MACs range (one per equal-width cost bin) instead of drawing them uniformly (which crowds them around the middle).")
    var spread = false
    @Option(help: "Where to write the results (default RUN/correlate.json).") var out: String?
    @Option(help: "Bands of equal count by MACs for tau at similar size (beside MACs alone in the same bands; default 3, fewer below 6 architectures).") var macsBands: Int?
    @Option(help: "Bootstrap resamples of the architectures for the 95% intervals (default 2000).") var bootstrap = 2000
    @Option(help: "Engine threads (default: all cores; under MPI, the cores shared among this machine's ranks).") var threads: Int?
    @Flag(help: "Initialise MPI even when no MPI launcher started this process (mpirun does it anyway).") var mpi = false

    func validate() throws {
        guard samples >= 3, epochs >= 1, standaloneSeeds >= 1 else {
            throw ValidationError("--samples must be at least 3, --epochs and --standalone-seeds at least 1")
        }
        guard finetuneLr > 0, finetuneLr.isFinite else { throw ValidationError("--finetune-lr must be a positive number") }
    }

    func run() throws {
        try reportingErrors {
            let job = try Job.communicator(force: mpi)
            var r = CorrelateRequest(run: runDirectory)
            r.samples = samples; r.epochs = epochs; r.trainImages = trainImages; r.validationImages = validationImages
            r.standaloneSeeds = standaloneSeeds; r.finetuneSteps = finetuneSteps; r.finetuneLearningRate = finetuneLr
            r.standaloneFrom = standaloneFrom; r.seed = seed; r.spread = spread; r.out = out
            r.macsBands = macsBands; r.bootstrapResamples = bootstrap
            guard let c = try correlate(r, job: job, engine: startEngine(threads: threads ?? jobThreads(job)), log: logLine) else { return }
            print(finetuneSteps.map { $0 == 0 ? " inherited" : String(format: "  ft%-6d", $0) }.joined() + "  stand-alone   MMACs  architecture")
            for row in c.rows {
                print(row.scores.map { String(format: "   %.4f", $0) }.joined()
                      + String(format: "      %.4f   %6.3f  %@", row.standaloneMean, Double(row.macs) / 1e6, row.architecture.description))
            }
            func show(_ v: Double) -> String { v.isFinite ? String(format: "%.3f", v) : "undefined (a score is constant)" }
            for v in c.variants {
                let label = v.finetuneSteps == 0 ? "inherited weights" : "after \(v.finetuneSteps) finetune steps"
                let single = c.standaloneSeeds > 1 ? " (against single seeds: tau \(show(v.tauSingleSeed)))" : ""
                print("\(label): Kendall tau \(show(v.kendallTau)), Spearman rho \(show(v.spearmanRho)) over \(c.rows.count) architectures\(single)")
                let p = v.report
                func ci(_ i: RankingReport.Interval) -> String { i.lower.isFinite ? String(format: "[%.3f, %.3f]", i.lower, i.upper) : "[undefined]" }
                print("  95% intervals (bootstrap, \(p.resamples) resamples): tau \(ci(p.kendallTauInterval)), rho \(ci(p.spearmanRhoInterval))")
                print("  within \(p.bands) MACs bands: tau \(show(p.bandKendallTau)) \(ci(p.bandKendallTauInterval)); MACs alone there \(show(p.bandMACsKendallTau)) \(ci(p.bandMACsKendallTauInterval))")
                print("  top-k regret (best stand-alone minus the best of the k highest scored): " + p.regret.map { String(format: "k=%d %.4f", $0.k, $0.regret) }.joined(separator: ", "))
            }
            let m = c.variants[0].report.macsKendallTauInterval
            print("MACs alone: Kendall tau \(show(c.macsTau))" + (m.lower.isFinite ? String(format: " [%.3f, %.3f]", m.lower, m.upper) : "")
                  + (c.standaloneSeeds > 1 ? " (against single seeds: \(show(c.macsTauSingleSeed)))" : ""))
            if c.standaloneSeeds >= 2 { print("one stand-alone seed vs another (noise ceiling): Kendall tau \(show(c.seedToSeedTau))") }
            print("(\(Int(c.seconds)) s)")
        }
    }
}
