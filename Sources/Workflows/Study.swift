import Foundation
import Runs
import Networks
import Search
import Spaces
import TensorCore

/// `pare study`: does the search earn its keep? At one budget, for every seed of the whole
/// pipeline (supernet, search and retraining reseeded), the winners of four arms — uniform
/// width scaling, the best of N random candidates by inherited score, one random pick, and
/// evolution — are each retrained with one fixed recipe from their inherited weights and
/// from scratch; validation accuracy (images held out of the training file) is the
/// reported selection metric, the test split is evaluated once, after every training has
/// finished, in a column of its own. Every step is recorded as it ends (study.json,
/// atomically), so an interrupted study continues where it stopped.
public struct StudyRequest: Sendable {
    /// The study directory: one supernet per seed (DIR/supernet-seedS) serves every budget;
    /// each budget's arms, models and table go to DIR/NAME.
    public var directory: String
    public var name: String
    public var seeds: [UInt64] = [0, 1, 2]
    public var supernet: StudySupernet
    public var budget = Budget()
    public var evolution = EvolutionConfig()
    /// Random candidates scored (nil: as many as the evolution scored: the same compute).
    public var randomCandidates: Int?
    public var validationImages: Int?
    public var calibrationImages = CalibrationSet.defaultImages
    /// The fixed retraining recipe every arm gets.
    public var retrainEpochs = 10
    public var retrainLearningRate: Float?
    public init(directory: String, name: String, supernet: StudySupernet) {
        self.directory = directory; self.name = name; self.supernet = supernet
    }
}

/// What every seed's supernet is trained with (recorded in each budget's study.json; a
/// budget whose settings differ from the runs' is refused by the runs' own resume check).
public struct StudySupernet: Codable, Equatable, Sendable {
    public var space: String
    public var data: String
    public var epochs: Int
    public var validation: Int?
    public var trainLimit: Int?
    public init(space: String, data: String, epochs: Int) { self.space = space; self.data = data; self.epochs = epochs }
}

public enum StudyArm: String, Codable, CodingKeyRepresentable, CaseIterable, Sendable {
    /// The widest uniform width scaling of the largest network within the budget.
    case uniform
    /// The best inherited score of N random candidates within the budget.
    case randomBest = "random-best"
    /// The first of those random candidates, unscored.
    case randomPick = "random-pick"
    case evolution
}

/// Where a retrained winner starts: its inherited supernet weights, or a fresh initialisation.
public enum StudyStart: String, Codable, CaseIterable, Sendable { case inherited, scratch }

/// The heavy steps of a study, behind a protocol: the pipeline runs the real workflows; a
/// test's fake records what each arm was given.
public protocol StudyBackend: AnyObject {
    /// Trains, or continues, seed `seed`'s supernet.
    func trainSupernet(seed: UInt64) throws
    /// Runs, or continues, the evolutionary search on it: the best candidate and how many were scored.
    func evolve(seed: UInt64) throws -> (best: Candidate, evaluated: Int)
    /// Inherited-weight scores of `archs` on it (the search's scorer).
    func score(_ archs: [Architecture], seed: UInt64) throws -> [Double]
    /// Trains `arch` with the fixed recipe from `start` (model directory `name`, continued
    /// if it was interrupted); returns its validation accuracy.
    func retrain(_ arch: Architecture, seed: UInt64, start: StudyStart, name: String) throws -> Double
    /// The test accuracy of that trained model, and its batch-1 latency in milliseconds.
    func test(_ arch: Architecture, seed: UInt64, start: StudyStart, name: String) throws -> (accuracy: Double, latencyMs: Double)
}

/// What a study has done so far (DIR/NAME/study.json).
public struct StudyState: Codable, Equatable, Sendable {
    public struct Winner: Codable, Equatable, Sendable {
        public var architecture: Architecture
        /// Inherited-weight validation score (nil: not scored, the random pick).
        public var score: Double?
    }
    public struct Trained: Codable, Equatable, Sendable {
        public var validation: Double
        public var test: Double?
        public var latencyMs: Double?
    }
    public var settings: StudySettings
    public var supernets: [UInt64] = []
    /// Per seed ("seed-S") and arm, its winner.
    public var winners: [String: [StudyArm: Winner]] = [:]
    /// Per seed, every random candidate scored so far, in draw order.
    public var random: [String: [Winner]] = [:]
    /// Per seed, the candidates its evolution scored (the random arm's default count).
    public var evolutionEvaluated: [String: Int] = [:]
    /// Per seed, architecture and start ("seed-S/ARCH/start"), the retrained result.
    public var trained: [String: Trained] = [:]
    /// Seconds each kind of step took (the ETA's evidence).
    public var seconds: [String: [Double]] = [:]
}

/// The settings a study's budget directory was started with: a continuation must match.
public struct StudySettings: Codable, Equatable, Sendable {
    public var supernet: StudySupernet
    public var seeds: [UInt64]
    public var budget: Budget
    public var evolution: EvolutionConfig
    public var randomCandidates: Int?
    public var validationImages: Int?
    public var calibrationImages: Int
    public var retrainEpochs: Int
    public var retrainLearningRate: Float?
}

extension StudyRequest {
    public var settings: StudySettings {
        StudySettings(supernet: supernet, seeds: seeds, budget: budget, evolution: evolution, randomCandidates: randomCandidates,
                      validationImages: validationImages, calibrationImages: calibrationImages, retrainEpochs: retrainEpochs,
                      retrainLearningRate: retrainLearningRate)
    }
    /// DIR/NAME.
    public var path: String { (directory as NSString).appendingPathComponent(name) }
}

/// Runs a study's steps in order, skipping those its state records as done.
public final class Study {
    public let request: StudyRequest
    public let constraints: Constraints
    let backend: StudyBackend
    let log: Log
    public private(set) var state: StudyState
    var statePath: String { request.path + "/study.json" }

    /// Opens DIR/NAME (a new study, or the one it holds when the settings match); an
    /// infeasible budget is refused here, before any training.
    public init(_ request: StudyRequest, space: SearchSpace, backend: StudyBackend, log: @escaping Log) throws {
        self.request = request
        self.backend = backend
        self.log = log
        constraints = try Constraints(space: space, budget: request.budget, latency: nil)
        try FileManager.default.createDirectory(atPath: request.path, withIntermediateDirectories: true)
        let path = request.path + "/study.json"
        if let data = FileManager.default.contents(atPath: path) {
            do { state = try JSONDecoder().decode(StudyState.self, from: data) } catch {
                throw UserError("\(path): not a study state (\(decodingProblem(error))); remove it to start the study again")
            }
            guard state.settings == request.settings else {
                throw UserError("\(path): this study was started with other settings; give it another --name, or the same options")
            }
        } else {
            state = StudyState(settings: request.settings)
        }
    }

    /// Every step, then the table.
    public func run() throws -> StudyReport {
        var done = completedSteps
        let seeds = request.seeds
        func step<T>(_ kind: String, _ what: String, _ body: () throws -> T) throws -> T {
            // Planned anew each step: the retrainings are known once every arm has its winner.
            let total = plannedSteps
            let eta = remainingSeconds()
            log("[study \(done + 1)/\(total)] \(what)" + (eta.map { ", about \(Progress.clock($0)) left" } ?? ""))
            let start = Date()
            let r = try body()
            state.seconds[kind, default: []].append(Date().timeIntervalSince(start))
            done += 1
            return r
        }
        for seed in seeds where !state.supernets.contains(seed) {
            try step(Self.supernetStep, "seed \(seed): supernet") { try backend.trainSupernet(seed: seed) }
            state.supernets.append(seed)
            try save()
        }
        for seed in seeds {
            let key = "seed-\(seed)"
            if state.winners[key]?[.evolution] == nil {
                let (best, evaluated) = try step(Self.evolutionStep, "seed \(seed): evolution") { try backend.evolve(seed: seed) }
                state.winners[key, default: [:]][.evolution] = .init(architecture: best.architecture, score: best.score)
                state.evolutionEvaluated[key] = evaluated
                try save()
            }
            if state.winners[key]?[.randomBest] == nil {
                try step(Self.randomStep, "seed \(seed): random search") { try randomArm(seed: seed) }
                try save()
            }
            if state.winners[key]?[.uniform] == nil {
                try step(Self.uniformStep, "seed \(seed): uniform scaling") {
                    guard let a = Self.uniform(constraints) else {
                        throw UserError("no uniform scaling of the largest network meets \(request.budget.readable)")
                    }
                    state.winners[key, default: [:]][.uniform] = .init(architecture: a, score: try backend.score([a], seed: seed)[0])
                }
                try save()
            }
        }
        // Retraining: one model per distinct architecture and start.
        for seed in seeds {
            for (arch, name) in distinctWinners(seed: seed) {
                for start in StudyStart.allCases where state.trained[trainedKey(seed, arch, start)] == nil {
                    let v = try step(Self.retrainStep, "seed \(seed): \(name) from \(start == .inherited ? "its inherited weights" : "scratch")") {
                        try backend.retrain(arch, seed: seed, start: start, name: "seed-\(seed)/\(name)")
                    }
                    state.trained[trainedKey(seed, arch, start)] = .init(validation: v)
                    try save()
                }
            }
        }
        // The test split, once, after every choice is made.
        for seed in seeds {
            for (arch, name) in distinctWinners(seed: seed) {
                for start in StudyStart.allCases where state.trained[trainedKey(seed, arch, start)]?.test == nil {
                    let t = try step(Self.testStep, "seed \(seed): \(name) (\(start)) on the test split") {
                        try backend.test(arch, seed: seed, start: start, name: "seed-\(seed)/\(name)")
                    }
                    state.trained[trainedKey(seed, arch, start)]?.test = t.accuracy
                    state.trained[trainedKey(seed, arch, start)]?.latencyMs = t.latencyMs
                    try save()
                }
            }
        }
        let report = StudyReport(state: state, space: constraints.space)
        try AtomicFile.write(Data(report.markdown.utf8), to: request.path + "/table.md")
        return report
    }

    /// N random candidates within the budget (distinct, bounded draws), scored in chunks
    /// that are recorded as they finish; the pick is the first drawn.
    func randomArm(seed: UInt64) throws {
        let key = "seed-\(seed)"
        guard let wanted = request.randomCandidates ?? state.evolutionEvaluated[key] else {
            preconditionFailure("the random arm runs after the evolution it matches")
        }
        let rng = RNG(seed: seed ^ 0x5A5A_0000_0000_A5A5)
        var drawn: [Architecture] = [], seen = Set<Architecture>()
        var tries = 0
        while drawn.count < wanted && tries < wanted * 200 {
            tries += 1
            let a = constraints.space.randomArchitecture(rng)
            if constraints.admits(constraints.measure(a)) && seen.insert(a).inserted { drawn.append(a) }
        }
        guard !drawn.isEmpty else { throw UserError("no random candidate met \(request.budget.readable) in \(tries) draws") }
        var scored = state.random[key] ?? []
        // A continuation redraws the same sequence: the recorded scores are its first ones.
        guard scored.map(\.architecture) == Array(drawn.prefix(scored.count)) else {
            throw UserError("\(statePath): the random candidates recorded for seed \(seed) are not this space's draws")
        }
        while scored.count < drawn.count {
            let chunk = Array(drawn[scored.count..<min(scored.count + 10, drawn.count)])
            scored += zip(chunk, try backend.score(chunk, seed: seed)).map { StudyState.Winner(architecture: $0, score: $1) }
            state.random[key] = scored
            try save()
        }
        let best = scored.enumerated().max { a, b in (a.element.score!, -a.offset) < (b.element.score!, -b.offset) }!.element
        state.winners[key, default: [:]][.randomBest] = best
        state.winners[key, default: [:]][.randomPick] = .init(architecture: drawn[0], score: nil)
        try save()
    }

    /// Uniform scaling (MetaPruning's and AutoSlim's baseline): the largest candidate's
    /// structure — every block its gene — with every stage at one width level (its k-th
    /// widest choice), the widest level within the budget; at full depth when any width
    /// fits, else with every stage one depth level shallower (its k-th deepest choice), and
    /// so on. When no such network fits, the same with every block's cheapest gene.
    public static func uniform(_ c: Constraints) -> Architecture? {
        let space = c.space, slots = space.blocks
        let widthLevels = space.stages.map(\.widths.count).max()!
        let depthLevels = space.stages.map(\.depthChoices.count).max()!
        let largest = space.largest
        // Per block, the gene of least MACs at the stage's narrowest widths (as `smallest` picks).
        let cheapest = slots.map { slot -> Architecture.Gene in
            let input = slot.inputWidths.min()!, output = slot.outputWidths.min()!
            var best: (Int, Architecture.Gene)?
            for op in slot.operators { for r in slot.middleRatios {
                let m = space.cost(slot: slot, op: op, input: input, output: output, middle: slot.middleWidth(op, input: input, output: output, ratioTenths: r)).macs
                if best == nil || m < best!.0 { best = (m, Architecture.Gene(op: op, ratioTenths: r)) }
            } }
            return best!.1
        }
        let running = slots.map { largest.genes[$0.index].skipped ? cheapest[$0.index] : largest.genes[$0.index] }
        for genes in [running, cheapest] {
            for depthLevel in 0..<depthLevels {
                let depths = space.stages.map { $0.depthChoices.sorted(by: >)[min(depthLevel, $0.depthChoices.count - 1)] }
                let staged = slots.map { $0.indexInStage < depths[$0.stage] ? genes[$0.index] : $0.skippedGene }
                for level in 0..<widthLevels {
                    let widths = space.stages.map { $0.widths.sorted(by: >)[min(level, $0.widths.count - 1)] }
                    let a = Architecture(widths: widths, genes: staged)
                    if c.admits(c.measure(a)) { return a }
                }
            }
        }
        return nil
    }

    /// Each distinct winner of a seed once, named after the first arm that has it.
    func distinctWinners(seed: UInt64) -> [(Architecture, String)] {
        var out: [(Architecture, String)] = []
        for arm in StudyArm.allCases {
            guard let w = state.winners["seed-\(seed)"]?[arm], !out.contains(where: { $0.0 == w.architecture }) else { continue }
            out.append((w.architecture, arm.rawValue))
        }
        return out
    }

    func trainedKey(_ seed: UInt64, _ arch: Architecture, _ start: StudyStart) -> String { "seed-\(seed)/\(arch)/\(start.rawValue)" }

    func save() throws { try AtomicFile.writeJSON(encodable: state, to: statePath) }

    /// Steps of the whole study: per seed a supernet, the evolution, the random search and
    /// uniform scaling, then per distinct winner (four until they are known) two trainings
    /// and two test evaluations.
    var plannedSteps: Int {
        request.seeds.reduce(0) { total, seed in
            let known = state.winners["seed-\(seed)"]?.count == StudyArm.allCases.count
            return total + 4 + 4 * (known ? distinctWinners(seed: seed).count : StudyArm.allCases.count)
        }
    }

    static let supernetStep = "supernet", evolutionStep = "evolution", randomStep = "random", uniformStep = "uniform",
               retrainStep = "retrain", testStep = "test"

    /// Steps still to run, by kind (four winners per seed until they are known).
    var remainingByKind: [String: Int] {
        var left: [String: Int] = [:]
        for seed in request.seeds {
            let w = state.winners["seed-\(seed)"] ?? [:]
            if !state.supernets.contains(seed) { left[Self.supernetStep, default: 0] += 1 }
            if w[.evolution] == nil { left[Self.evolutionStep, default: 0] += 1 }
            if w[.randomBest] == nil { left[Self.randomStep, default: 0] += 1 }
            if w[.uniform] == nil { left[Self.uniformStep, default: 0] += 1 }
            let known = w.count == StudyArm.allCases.count
            let models = (known ? distinctWinners(seed: seed).map(\.0) : []).flatMap { a in StudyStart.allCases.map { trainedKey(seed, a, $0) } }
            let trainings = known ? models.filter { state.trained[$0] == nil }.count : 2 * StudyArm.allCases.count
            let tests = known ? models.filter { state.trained[$0]?.test == nil }.count : 2 * StudyArm.allCases.count
            left[Self.retrainStep, default: 0] += trainings
            left[Self.testStep, default: 0] += tests
        }
        return left
    }

    var completedSteps: Int {
        let seeds = request.seeds
        var n = seeds.filter { state.supernets.contains($0) }.count
        for seed in seeds {
            let w = state.winners["seed-\(seed)"] ?? [:]
            n += (w[.evolution] != nil ? 1 : 0) + (w[.randomBest] != nil ? 1 : 0) + (w[.uniform] != nil ? 1 : 0)
        }
        for t in state.trained.values { n += 1 + (t.test != nil ? 1 : 0) }
        return n
    }

    /// Seconds left: each remaining step at the mean time of its kind so far; nil while a
    /// kind with steps left has not been timed yet (a supernet's hours and a test's seconds
    /// do not average).
    func remainingSeconds() -> Double? {
        var total = 0.0
        for (kind, count) in remainingByKind where count > 0 {
            guard let times = state.seconds[kind], !times.isEmpty else { return nil }
            total += times.reduce(0, +) / Double(times.count) * Double(count)
        }
        return total
    }
}
