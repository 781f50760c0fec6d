import Datasets
import Distributed
import Foundation
import Runs
import Scoring
import Search
import Spaces
import Networks
import TensorCore
import Training

/// `pare search`: evolutionary search under hard budgets on a trained supernet run, every
/// candidate scored with inherited weights after BN recalibration.
public struct SearchRequest: Sendable {
    /// The run directory with a trained supernet.
    public var run: String
    public var budget = Budget()
    /// A table written by `pare latency` for the run's space (needed by a latency budget);
    /// `int8`: the table and budget are the int8 model's.
    public var latencyTable: String?
    public var int8 = false
    public var evolution = EvolutionConfig()
    /// Validation images scored per candidate (nil: the whole validation split).
    public var validationImages: Int?
    public var calibration = CalibrationSet()
    /// SGD steps on each candidate alone before it is scored, and their peak learning rate.
    public var finetuneSteps = 0
    public var finetuneLearningRate: Float = 0.01
    /// The search's own seed (evolution; the calibration set has its own).
    public var seed: UInt64 = 0
    /// Results go to RUN/search-NAME (nil: RUN/search).
    public var name: String?
    /// Continue the search saved in its state.json.
    public var resume = false
    public init(run: String) { self.run = run }
}

/// A finished search (on the rank that writes; the others get nil).
public struct SearchResult: Sendable {
    public var best: Candidate
    /// Best first: by score, or with a Pareto search the front from the most accurate.
    public var ranked: [Candidate]
    public var generations: Int
    public var evaluated: Int
    /// Candidates this process scored, and the seconds it searched.
    public var scoredHere: Int
    public var seconds: Double
    /// RUN/search[-NAME], holding `SearchRun.resultFiles`.
    public var path: String
}

/// Every rank of `job` runs the same evolution; candidates of a generation are spread over
/// the ranks. Ctrl-C stops every rank after the same generation (`Interrupted`).
public func search(_ request: SearchRequest, job: Communicator, engine: Engine, log: @escaping Log) throws -> SearchResult? {
    let writer = job.isWriter
    let say: Log = { if writer { log($0) } }
    if job.size > 1 { say("MPI: \(job.size) ranks, \(engine.threads) engine threads each; candidates of each generation spread over the ranks") }
    let (dir, config) = try openTrainedRun(request.run)
    let budget = request.budget, evo = request.evolution
    var latency: LatencyTable?
    if let path = request.latencyTable {
        let table = try loadLatencyTable(path, for: config.space)
        if request.int8 != (table.precision == "int8") {
            throw UserError(request.int8 ? "\(path): a \(table.precision) table; --int8 needs one from pare latency --int8"
                                         : "\(path): an int8 table; pass --int8 to budget int8 latency, or use a float table")
        }
        latency = table
    } else if budget.maxLatencyMs != nil {
        throw UserError("--max-latency needs --latency-table FILE (write one with: pare latency --space \(config.spaceFile))")
    }
    // Budget first: an infeasible one ends here, before any data or weights load.
    let constraints = try Constraints(space: config.space, budget: budget, latency: latency)

    let (trained, scorer) = try inheritedScorer(dir, config, request, engine: engine, log: say)
    let evaluator: CandidateEvaluator = job.size > 1 ? DistributedEvaluator(local: scorer, job: job) : scorer
    let search = EvolutionarySearch(constraints: constraints, config: evo, evaluator: evaluator, rng: RNG(seed: request.seed))
    let files = writer ? try SearchRun(runPath: dir.path, name: request.name) : nil
    let path = SearchRun.path(runPath: dir.path, name: request.name)
    if request.resume {
        // Rank 0 rewrites only history.jsonl on resume: the other ranks read state.json as saved.
        let statePath = path + "/" + SearchRun.stateFile
        let state: SearchState
        if let files { state = try files.resume() } else { state = try SearchRun.readState(statePath) }
        try search.restore(state, path: statePath)
        say("resumed search at generation \(search.generation) with \(search.evaluated.count) candidates evaluated")
    } else {
        try files?.start()
        try search.start()
    }
    try job.barrier()
    say("pare search -> \(path): \(config.space.name), \(budget.readable), \(evo.pareto ? "Pareto" : "single-objective"), population \(evo.population), \(evo.generations) generations; supernet \(trained.checkpoint); scoring: \(scorer.settings) of \(trained.source)")
    var scoredHere = 0
    var recordError: Error?
    search.onEvaluated = { c in
        scoredHere += 1
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
        let perMinute = Double(scoredHere) / max(Date().timeIntervalSince(start), 1e-9) * 60
        say(String(format: "generation %d/%d: %d evaluated (%.1f/min), best %.4f at %@ MACs %d params",
                   search.generation, evo.generations, search.evaluated.count, perMinute, best.score,
                   readableCount(Double(best.measured.macs)), best.measured.parameters))
        // Every rank stops after the same generation (one Ctrl-C reaches them at different times).
        var stop: Float = Interrupt.requested ? 1 : 0
        try job.allreduceSum(&stop, count: 1)
        if stop > 0 {
            throw Interrupted(writer ? "interrupted after generation \(search.generation); continue with the same options plus --resume" : nil)
        }
    }
    let seconds = Date().timeIntervalSince(start)
    guard let best = search.best else { throw UserError("no candidate was evaluated") }
    let front = search.front()
    guard let files else { return nil }
    try files.writeResults(best: best, front: front, evaluated: search.evaluated, budget: budget,
                           provenance: ["space": config.space.name, "run": request.run, "supernet_checkpoint": trained.checkpoint,
                                        "scoring": scorer.settings.description],
                           title: "\(config.space.name): \(search.evaluated.count) candidates, \(budget.readable)")
    return SearchResult(best: best, ranked: evo.pareto ? front.reversed() : search.ranked(), generations: search.generation,
                        evaluated: search.evaluated.count, scoredHere: scoredHere, seconds: seconds, path: files.path)
}

/// The run's supernet and the scorer `request` describes: inherited weights, BN recalibrated
/// on the calibration images, validation accuracy on the first `validationImages` (what
/// `pare search` and `pare study`'s random arm score with).
public func inheritedScorer(_ dir: RunDirectory, _ config: TrainConfig, _ request: SearchRequest, engine: Engine,
                            log: Log) throws -> (TrainedSupernet, InheritedWeightScorer) {
    let trained = try TrainedSupernet(dir, config, engine: engine, log: log)
    let val = trained.validation
    let validation = request.validationImages.map { val.subset(0..<min(max($0, 1), val.count)) } ?? val
    let scorer = InheritedWeightScorer(network: trained.network, train: trained.train, validation: validation,
                                       normalization: trained.normalization, calibration: request.calibration,
                                       finetuneSteps: request.finetuneSteps, finetuneLearningRate: request.finetuneLearningRate,
                                       recipe: config.recipe, augmentation: config.augmentation)
    return (trained, scorer)
}
