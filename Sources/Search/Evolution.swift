import Foundation
import Spaces

/// SPOS's evolutionary search defaults: population 50, 20 generations, top-10 parents,
/// 25 mutations (per-gene probability 0.1) and 25 crossovers per generation.
public struct EvolutionConfig: Codable, Equatable, Sendable {
    public var population = 50
    public var generations = 20
    public var parents = 10
    public var mutations = 25
    public var mutationProbability = 0.1
    public var crossovers = 25
    /// Pareto mode: parents chosen by NSGA-II (non-dominated sorting, crowding) on
    /// (score, MACs or latency) instead of score alone.
    public var pareto = false
    public init() {}
}

/// An evaluated candidate.
public struct Candidate: Codable, Equatable, Sendable {
    public var architecture: Architecture
    public var measured: Measured
    public var score: Double
    public var generation: Int

    public init(architecture: Architecture, measured: Measured, score: Double, generation: Int) {
        self.architecture = architecture; self.measured = measured; self.score = score; self.generation = generation
    }
}

/// Everything needed to continue a search exactly where it stopped.
public struct SearchState: Codable, Equatable, Sendable {
    public var config: EvolutionConfig
    public var budget: Budget
    public var spaceName: String
    /// The generation whose population is about to be evaluated.
    public var generation: Int
    public var population: [Architecture]
    /// Every evaluated candidate in evaluation order (the memo and the history).
    public var evaluated: [Candidate]
    public var rng: [UInt8]
    /// How candidates were scored (absent in states of evaluators that cannot say).
    public var scoring: ScoringSettings?
}

/// Evolutionary search under hard budgets. Candidates that break a budget are never
/// scored nor returned; scores are memoised by architecture; all randomness comes from
/// the injected generator, so a seed fixes the result and a saved state resumes it.
public final class EvolutionarySearch {
    public let space: SearchSpace
    public let config: EvolutionConfig
    public let constraints: Constraints
    let evaluator: CandidateEvaluator
    let rng: SearchRandom
    public private(set) var generation = 0
    public private(set) var population: [Architecture] = []
    public private(set) var evaluated: [Candidate] = []
    private var memo: [Architecture: Int] = [:]
    /// Called after each new evaluation (history lines, progress).
    public var onEvaluated: (Candidate) -> Void = { _ in }

    public init(constraints: Constraints, config: EvolutionConfig, evaluator: CandidateEvaluator, rng: SearchRandom) {
        precondition(config.population >= 1 && config.generations >= 1 && config.parents >= 1, "evolution config \(config)")
        space = constraints.space
        self.config = config
        self.constraints = constraints
        self.evaluator = evaluator
        self.rng = rng
    }

    /// The same with the constraints made (and checked) here.
    public convenience init(space: SearchSpace, budget: Budget, config: EvolutionConfig, latency: LatencyModel?,
                            evaluator: CandidateEvaluator, rng: SearchRandom) throws {
        self.init(constraints: try Constraints(space: space, budget: budget, latency: latency), config: config, evaluator: evaluator, rng: rng)
    }

    public var finished: Bool { generation >= config.generations }

    /// Draws the initial population: random candidates within budget, bounded tries.
    public func start() throws {
        let tries = config.population * 200
        var seen = Set<Architecture>()
        var t = 0
        while seen.count < config.population && t < tries {
            t += 1
            let a = space.randomArchitecture(rng)
            if constraints.admits(constraints.measure(a)) && seen.insert(a).inserted { population.append(a) }
        }
        if population.isEmpty {
            throw SearchError.tooFewFeasible(found: 0, wanted: config.population, tries: tries, budget: constraints.budget.description)
        }
    }

    /// Evaluates this generation's population, then breeds the next one.
    public func runGeneration() throws {
        precondition(!finished, "search finished")
        let pending = population.filter { memo[$0] == nil }
        let measured = pending.map { a -> Measured in
            let m = constraints.measure(a)
            precondition(constraints.admits(m), "candidate over budget reached evaluation: \(a)")
            return m
        }
        try evaluator.scores(pending) { i, score in
            let c = Candidate(architecture: pending[i], measured: measured[i], score: score, generation: generation)
            memo[pending[i]] = evaluated.count
            evaluated.append(c)
            onEvaluated(c)
        }
        generation += 1
        population = finished ? [] : breed()
    }

    /// The best candidates so far, best first (score; Pareto mode: NSGA-II order).
    public func ranked() -> [Candidate] {
        if config.pareto {
            return Pareto.ranked(evaluated.map { (score: $0.score, cost: cost($0)) }).map { evaluated[$0] }
        }
        return evaluated.sorted { a, b in
            (a.score, -Double(a.measured.macs), a.architecture.description) > (b.score, -Double(b.measured.macs), b.architecture.description)
        }
    }

    /// Non-dominated candidates on (score, MACs or latency), cheapest first.
    public func front() -> [Candidate] {
        let pts = evaluated.map { (score: $0.score, cost: cost($0)) }
        guard let first = Pareto.fronts(pts).first else { return [] }
        return first.map { evaluated[$0] }.sorted { cost($0) < cost($1) }
    }

    public var best: Candidate? { ranked().first }

    func cost(_ c: Candidate) -> Double { c.measured.latencyMs ?? Double(c.measured.macs) }

    private func breed() -> [Architecture] {
        let parents = ranked().prefix(config.parents).map(\.architecture)
        var next: [Architecture] = []
        var inNext = Set<Architecture>()
        func offer(_ a: Architecture) -> Bool {
            guard memo[a] == nil, !inNext.contains(a), constraints.admits(constraints.measure(a)) else { return false }
            inNext.insert(a)
            next.append(a)
            return true
        }
        // Mutation: each width and gene field redrawn with probability p.
        var made = 0, tries = 0
        while made < config.mutations && tries < config.mutations * 10 {
            tries += 1
            if offer(mutate(parents[rng.int(below: parents.count)])) { made += 1 }
        }
        // Crossover: each width and gene taken from one of two parents.
        made = 0; tries = 0
        while made < config.crossovers && tries < config.crossovers * 10 {
            tries += 1
            let a = parents[rng.int(below: parents.count)], b = parents[rng.int(below: parents.count)]
            if offer(crossover(a, b)) { made += 1 }
        }
        // Fill with random candidates (bounded).
        tries = 0
        while next.count < config.population && tries < config.population * 50 {
            tries += 1
            _ = offer(space.randomArchitecture(rng))
        }
        return next
    }

    /// Each width, elastic depth and running block's operator and ratio redrawn with
    /// probability p (blocks a deeper stage newly runs get random genes).
    func mutate(_ a: Architecture) -> Architecture {
        var m = a
        let p = config.mutationProbability
        for (i, stage) in space.stages.enumerated() where rng.uniform() < p {
            m.widths[i] = stage.widths[rng.int(below: stage.widths.count)]
        }
        for (i, stage) in space.stages.enumerated() where stage.hasElasticDepth && rng.uniform() < p {
            m = space.setting(depth: stage.depthChoices[rng.int(below: stage.depthChoices.count)], stage: i, of: m, rng: rng)
        }
        for (b, slot) in space.blocks.enumerated() where !m.genes[b].skipped {
            if rng.uniform() < p { m.genes[b].op = slot.operators[rng.int(below: slot.operators.count)] }
            if rng.uniform() < p { m.genes[b].ratioTenths = slot.middleRatios[rng.int(below: slot.middleRatios.count)] }
        }
        return m
    }

    /// Each width, elastic depth and gene from one of the two parents; a block the child
    /// runs takes a running parent's gene.
    func crossover(_ a: Architecture, _ b: Architecture) -> Architecture {
        var c = a
        for i in c.widths.indices where rng.int(below: 2) == 1 { c.widths[i] = b.widths[i] }
        let slots = space.blocks
        var depths = space.stages.indices.map { space.depth(of: a, stage: $0) }
        for (i, stage) in space.stages.enumerated() where stage.hasElasticDepth && rng.int(below: 2) == 1 {
            depths[i] = space.depth(of: b, stage: i)
        }
        for i in c.genes.indices {
            let fromB = rng.int(below: 2) == 1
            let runs = slots[i].indexInStage < depths[slots[i].stage]
            let (first, second) = fromB ? (b.genes[i], a.genes[i]) : (a.genes[i], b.genes[i])
            c.genes[i] = !runs ? slots[i].skippedGene : (first.skipped ? second : first)
        }
        return c
    }

    // MARK: state

    public var state: SearchState {
        SearchState(config: config, budget: constraints.budget, spaceName: space.name, generation: generation,
                    population: population, evaluated: evaluated, rng: rng.state, scoring: evaluator.scoring)
    }

    public func restore(_ s: SearchState, path: String) throws {
        guard s.config == config, s.budget == constraints.budget, s.spaceName == space.name else {
            throw SearchError.badState(path: path, reason: "written by a search with another space, budget or settings")
        }
        // States from before scoring settings were recorded: those searches never finetuned.
        let legacy = s.scoring == nil && (evaluator.scoring?.finetuneSteps ?? 0) == 0
        guard legacy || s.scoring == evaluator.scoring else {
            throw SearchError.badState(path: path, reason: "its candidates were scored with other settings (\(s.scoring.map { "\($0)" } ?? "unknown")); now: \(evaluator.scoring.map { "\($0)" } ?? "unknown")")
        }
        guard s.generation >= 0 && s.generation <= config.generations else {
            throw SearchError.badState(path: path, reason: "generation \(s.generation) of \(config.generations)")
        }
        for c in s.evaluated { try space.validate(c.architecture) }
        for a in s.population { try space.validate(a) }
        do { try rng.restore(s.rng) } catch { throw SearchError.badState(path: path, reason: "RNG state") }
        generation = s.generation
        population = s.population
        evaluated = s.evaluated
        memo = [:]
        for (i, c) in evaluated.enumerated() { memo[c.architecture] = i }
    }
}
