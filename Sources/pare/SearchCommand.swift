import ArgumentParser
import Distributed
import Foundation
import Networks
import Search
import Spaces
import Workflows

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
    @Option(help: "Largest peak activation memory of the int8 model at batch 1 (SRAM), e.g. 32KB, 64KiB: the most activation bytes the int8 executor holds at once.",
            transform: { try bytesArgument($0) })
    var maxPeakMemory: Int?
    @Option(help: "Largest int8 model (flash), e.g. 64KB: the bytes of model.int8.safetensors' weights, scales, biases and activation grids.",
            transform: { try bytesArgument($0) })
    var maxFlash: Int?
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

    /// The search the options describe.
    var request: SearchRequest {
        var r = SearchRequest(run: runDirectory)
        r.budget = Budget(maxMACs: maxFlops, maxParameters: maxParams, maxLatencyMs: maxLatency, minMACs: minFlops, minParameters: minParams,
                          maxPeakMemoryBytes: maxPeakMemory, maxFlashBytes: maxFlash)
        r.latencyTable = latencyTable
        r.int8 = int8
        r.evolution.population = population; r.evolution.generations = generations; r.evolution.parents = parents
        r.evolution.mutations = mutations; r.evolution.mutationProbability = mutationProbability; r.evolution.crossovers = crossovers
        r.evolution.pareto = pareto
        r.validationImages = validationImages
        // One seed for the evolution and the calibration images, as pare export's --seed.
        r.calibration = CalibrationSet(images: calibrationImages, seed: seed)
        r.finetuneSteps = finetuneSteps
        r.finetuneLearningRate = finetuneLr
        r.seed = seed
        r.name = name
        r.resume = resume
        return r
    }

    func run() throws {
        try reportingErrors {
            let job = try Job.communicator(force: mpi)
            let engine = startEngine(threads: threads ?? jobThreads(job))
            guard let r = try search(request, job: job, engine: engine, log: logLine) else { return }
            printSearch(r, top: top)
        }
    }
}
