import ArgumentParser
import Datasets
import Distributed
import Foundation
import Runs
import Scoring
import Search
import Spaces
import Networks
import TensorCore

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Evolutionary search under hard budgets, scoring candidates with weights inherited from the run's supernet.",
        discussion: """
        Uses the newest checkpoint of RUN (see `pare train`). Every candidate is checked against every budget \
        before it is scored; scores are validation accuracy after BN recalibration, on the same validation \
        images for every candidate. Writes RUN/search/state.json (every generation, atomically), \
        history.jsonl, best.json, best.txt and plot.svg. `--resume` continues an interrupted search exactly.
        """)

    @Option(name: .customLong("run"), help: "Run directory with a trained supernet.") var runDirectory: String
    @Option(help: "Largest MACs (multiply-accumulates) per image, e.g. 3M, 800K.", transform: { try countArgument($0) }) var maxFlops: Int?
    @Option(help: "Smallest MACs per image, e.g. 2.7M: search the band up to --max-flops rather than everything below it.", transform: { try countArgument($0) })
    var minFlops: Int?
    @Option(help: "Largest parameter count, e.g. 80K.", transform: { try countArgument($0) }) var maxParams: Int?
    @Option(help: "Smallest parameter count, e.g. 85K: keep capacity that inherited scores do not reward (docs/supernet-quality.md).", transform: { try countArgument($0) })
    var minParams: Int?
    @Option(help: "Largest predicted latency, e.g. 1.2ms or 800us (needs --latency-table).", transform: { try durationArgument($0) })
    var maxLatency: Double?
    @Option(help: "Latency table written by `pare latency` for this run's space.") var latencyTable: String?
    @Flag(help: "The latency budget is the int8 model's (the table must come from pare latency --int8).") var int8 = false
    @Option(help: "Population size (default 50).") var population = 50
    @Option(help: "Generations (default 20).") var generations = 20
    @Option(help: "Parents kept per generation (default 10).") var parents = 10
    @Option(help: "Mutations per generation (default 25).") var mutations = 25
    @Option(help: "Per-gene mutation probability (default 0.1).") var mutationProbability = 0.1
    @Option(help: "Crossovers per generation (default 25).") var crossovers = 25
    @Flag(help: "Search the accuracy x MACs front (NSGA-II) instead of the single best.") var pareto = false
    @Option(help: "Validation images scored per candidate (default: the whole validation split).") var validationImages: Int?
    @Option(help: "Training images for BN recalibration (default 2560 = 20 batches of 128).") var calibrationImages = CalibrationSet.defaultImages
    @Option(help: "SGD steps on each candidate alone (a copy of its inherited weights, the same batches for all) before it is scored (default 0: inherited weights as they are). Slower; can rank better (measure with `pare correlate --finetune-steps`).")
    var finetuneSteps = 0
    @Option(help: "Peak learning rate of those steps, cosine to 0 (default 0.01).") var finetuneLr: Float = 0.01
    @Option(help: "Random seed of the search (default 0).") var seed: UInt64 = 0
    @Option(help: "Rows of the final table (default 10).") var top = 10
    @Option(help: "Name of this search: results go to RUN/search-NAME (default RUN/search).") var name: String?
    @Flag(help: "Continue the search saved in its state.json.") var resume = false
    @Option(help: "Engine threads (default: all cores; under MPI, the cores shared among this machine's ranks).") var threads: Int?
    @Flag(help: "Initialise MPI even when no MPI launcher started this process (mpirun does it anyway).") var mpi = false

    /// Option values first: a bad one must not cost a data or weights load, nor a whole search.
    func validate() throws {
        if let validationImages, validationImages < 1 { throw ValidationError("--validation-images must be at least 1, got \(validationImages)") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1, got \(calibrationImages)") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        if int8 && latencyTable == nil { throw ValidationError("--int8 budgets the int8 model's latency: pass --latency-table FILE written by pare latency --int8") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
        guard finetuneSteps >= 0, finetuneLr > 0, finetuneLr.isFinite else {
            throw ValidationError("--finetune-steps must be at least 0 and --finetune-lr a positive number")
        }
        guard population >= 1, generations >= 1, parents >= 1, mutations >= 0, crossovers >= 0, (0...1).contains(mutationProbability) else {
            throw ValidationError("--population, --generations and --parents must be at least 1, --mutation-probability in 0...1")
        }
        if let name, name.isEmpty || name.contains("/") || name.hasPrefix(".") { throw ValidationError("--name: '\(quoted(name))' must be a plain non-empty name") }
    }

    func run() throws {
        try reportingErrors {
            let job = try Job.communicator(force: mpi)
            let engine = startEngine(threads: threads ?? jobThreads(job))
            // Rank 0 alone writes and reports; every rank runs the same evolution.
            let writer = job.isWriter
            func say(_ line: String) { if writer { logLine(line) } }
            if job.size > 1 { say("MPI: \(job.size) ranks, \(engine.threads) engine threads each; candidates of each generation spread over the ranks") }
            let (dir, config) = try openTrainedRun(runDirectory)
            let budget = Budget(maxMACs: maxFlops, maxParameters: maxParams, maxLatencyMs: maxLatency, minMACs: minFlops,
                                minParameters: minParams)
            var latency: LatencyTable?
            if let latencyTable {
                latency = try loadLatencyTable(latencyTable, for: config.space)
                if int8 != (latency!.precision == "int8") {
                    throw UserError(int8 ? "\(latencyTable): a \(latency!.precision) table; --int8 needs one from pare latency --int8"
                                         : "\(latencyTable): an int8 table; pass --int8 to budget int8 latency, or use a float table")
                }
            } else if budget.maxLatencyMs != nil {
                throw UserError("--max-latency needs --latency-table FILE (write one with: pare latency --space \(config.spaceFile))")
            }
            var evo = EvolutionConfig()
            evo.population = population; evo.generations = generations; evo.parents = parents
            evo.mutations = mutations; evo.mutationProbability = mutationProbability; evo.crossovers = crossovers
            evo.pareto = pareto
            // Budget first: an infeasible one ends here, before any data or weights load.
            let constraints = try Constraints(space: config.space, budget: budget, latency: latency)

            let trained = try TrainedSupernet(dir, config, engine: engine)
            let val = trained.validation
            let validation = validationImages.map { val.subset(0..<min(max($0, 1), val.count)) } ?? val
            let scorer = InheritedWeightScorer(network: trained.network, train: trained.train, validation: validation,
                                               normalization: trained.normalization, calibrationImages: calibrationImages, seed: seed,
                                               finetuneSteps: finetuneSteps, finetuneLearningRate: finetuneLr,
                                               recipe: config.recipe, augmentation: config.augmentation)
            let evaluator: CandidateEvaluator = job.size > 1 ? DistributedEvaluator(local: scorer, job: job) : scorer
            let search = EvolutionarySearch(constraints: constraints, config: evo, evaluator: evaluator, rng: RNG(seed: seed))
            let files = job.isWriter ? try SearchRun(runPath: dir.path, name: name) : nil
            if resume {
                // Rank 0 rewrites only history.jsonl on resume: the other ranks read state.json as saved.
                let statePath = SearchRun.path(runPath: dir.path, name: name) + "/state.json"
                let state: SearchState
                if let files { state = try files.resume() } else { state = try SearchRun.readState(statePath) }
                try search.restore(state, path: statePath)
                say("resumed search at generation \(search.generation) with \(search.evaluated.count) candidates evaluated")
            } else {
                try files?.start()
                try search.start()
            }
            try job.barrier()
            say("pare search -> \(SearchRun.path(runPath: dir.path, name: name)): \(config.space.name), \(budget.readable), \(pareto ? "Pareto" : "single-objective"), population \(population), \(generations) generations; supernet \(trained.checkpoint); scoring: \(scorer.settings) of \(trained.source)")
            var newThisProcess = 0
            var recordError: Error?
            search.onEvaluated = { c in
                newThisProcess += 1
                do { try files?.record(c) } catch { recordError = recordError ?? error }
            }
            Interrupt.install()
            defer { Interrupt.uninstall() }
            let start = Date()
            while !search.finished {
                try search.runGeneration()
                if let recordError { throw recordError }
                try files?.save(search.state)
                let best = search.best!
                let perMinute = Double(newThisProcess) / max(Date().timeIntervalSince(start), 1e-9) * 60
                say(String(format: "generation %d/%d: %d evaluated (%.1f/min), best %.4f at %@ MACs %d params",
                               search.generation, generations, search.evaluated.count, perMinute, best.score,
                               readableCount(Double(best.measured.macs)), best.measured.parameters))
                // Every rank stops after the same generation (one Ctrl-C reaches them at different times).
                var stop: Float = Interrupt.requested ? 1 : 0
                try job.allreduceSum(&stop, count: 1)
                if stop > 0 {
                    say("interrupted after generation \(search.generation); continue with the same options plus --resume")
                    throw ExitCode(130)
                }
            }
            let seconds = Date().timeIntervalSince(start)
            guard let best = search.best else { throw UserError("no candidate was evaluated") }
            let front = search.front()
            guard let files else { return }
            try files.writeResults(best: best, front: front, evaluated: search.evaluated, budget: budget,
                                   provenance: ["space": config.space.name, "run": runDirectory, "supernet_checkpoint": trained.checkpoint,
                                                "scoring": scorer.settings.description],
                                   title: "\(config.space.name): \(search.evaluated.count) candidates, \(budget.readable)")
            print(String(format: "searched %d generations, %d candidates evaluated (%d in %.1f s this process, %.1f per minute)",
                         search.generation, search.evaluated.count, newThisProcess, seconds, Double(newThisProcess) / max(seconds, 1e-9) * 60))
            print(" rank  score    MMACs   params  latency  architecture")
            for (i, c) in (pareto ? front.reversed() : search.ranked()).prefix(top).enumerated() {
                let ms = c.measured.latencyMs.map { String(format: "%6.3fms", $0) } ?? "      - "
                print(String(format: "%5d  %.4f  %6.3f  %7d  %@  %@", i + 1, c.score, Double(c.measured.macs) / 1e6, c.measured.parameters, ms, c.architecture.description))
            }
            print("best: \(best.architecture.description)")
            print("written: \(files.path)/{\(SearchRun.resultFiles.joined(separator: ","))}")
        }
    }
}
