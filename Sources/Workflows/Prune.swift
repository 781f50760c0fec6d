import Datasets
import Export
import Foundation
import Networks
import Pruning
import Runs
import Search
import Spaces
import TensorCore
import Training

/// How `pare prune` chooses the channels to remove: a criterion ranking them globally, or
/// per-layer widths found by search on a width-only supernet holding the model.
public enum PruneMethod: Equatable, Sendable {
    case criterion(ImportanceCriterion)
    case search

    public init?(_ name: String) {
        if name == "search" { self = .search } else if let c = ImportanceCriterion(rawValue: name) { self = .criterion(c) } else { return nil }
    }

    public var name: String {
        switch self {
        case .criterion(let c): return c.rawValue
        case .search: return "search"
        }
    }

    public static let all: [PruneMethod] = ImportanceCriterion.allCases.map { .criterion($0) } + [.search]
}

/// A cost target: a percentage of the model's cost (50%) or a count (15M, 120K).
public enum CostAmount: Equatable, Sendable {
    case percent(Double)
    case count(Int)

    public init?(_ text: String) {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast()), p > 0, p <= 100 else { return nil }
            self = .percent(p)
        } else {
            guard let v = parseCount(text), v > 0 else { return nil }
            self = .count(v)
        }
    }

    /// The target for a model whose cost is `full`.
    public func value(of full: Int) -> Int {
        switch self {
        case .percent(let p): return Int(Double(full) * p / 100)
        case .count(let v): return v
        }
    }
}

/// `pare prune`: a trained model's channels pruned to a MACs or parameter target.
public struct PruneRequest: Sendable {
    /// The model directory pruned, and the one written.
    public var model: String
    public var out: String
    public var method = PruneMethod.criterion(.l1)
    public var metric: PruneTarget.Metric
    public var target: CostAmount
    /// FPGM's weak-layer factor and denominator offset.
    public var nu = 0.9
    public var theta = 1e-8
    /// No width below this fraction of its original count.
    public var minimumWidth = 0.1
    /// The weights pruned (nil: finetuned if present).
    public var weights: WeightsChoice?
    /// Data source (nil: the model's).
    public var data: String?
    public var calibrationImages = CalibrationSet.defaultImages
    /// The target approached in this many geometric steps, each finetuned for
    /// `finetuneEpochs` (with `recipe`, weights averaged with decay `average`) before the next.
    public var rounds = 1
    public var finetuneEpochs = 0
    public var average: Float?
    public var recipe = RecipeOverrides()
    public var onnx = false
    public var folded = false
    /// `.search`: the criterion that orders channels before the width supernet inherits them,
    /// the epochs of its sandwich training, and the evolutionary search.
    public var importance = ImportanceCriterion.l1
    public var searchEpochs = 2
    public var population = 30
    public var generations = 10
    public var validationImages: Int?

    public init(model: String, out: String, metric: PruneTarget.Metric, target: CostAmount) {
        self.model = model; self.out = out; self.metric = metric; self.target = target
    }
}

/// The pruned model and what it cost.
public struct PruneResult: Sendable {
    public var macs: (before: Int, after: Int)
    public var parameters: (before: Int, after: Int)
    public var out: String
    /// The finetunes this call ran (rounds finetuned earlier and resumed are not repeated).
    public var finetunes: [FinetuneResult]
    /// `.search`: what this call trained, searched and exported (nil for stages done earlier).
    public var bySearch = SearchStages()

    public struct SearchStages: Sendable {
        public var widthSupernet: TrainingSummary?
        public var search: SearchResult?
        public var export: ExportResult?
    }
}

/// `finetuned` hears of each finetune as it ends (a later round may still fail).
public func prune(_ request: PruneRequest, engine: Engine, log: @escaping Log, finetuned: (FinetuneResult) -> Void = { _ in }) throws -> PruneResult {
    let r = request
    let source = ModelDirectory(path: r.model)
    let weightsName = try resolveWeights(r.weights, in: source)
    let (d, original) = try source.load(weights: weightsName, engine: engine)
    let config = modelDataConfig(d, data: r.data)
    let (train, val, dataSource) = try loadSplits(config)
    let full = r.metric == .macs ? d.macs : d.parameters
    let finalTarget = r.target.value(of: full)
    let goal = ModelDescription.PruningRecord.Goal(metric: r.metric == .macs ? .macs : .parameters, value: finalTarget)
    let evaluation = Evaluation(train: train, validation: val, normalization: d.normalization, calibrationImages: r.calibrationImages)
    let sourceAccuracy = evaluation.accuracy(original)
    var finetunes: [FinetuneResult] = []
    func finetuneRound(_ dir: String) throws {
        var f = FinetuneRequest(model: dir)
        f.recipe = r.recipe
        f.recipe.epochs = r.finetuneEpochs
        // An interrupted round's finetuning continues from its checkpoint.
        f.recipe.resume = r.recipe.resume && FileManager.default.fileExists(atPath: ModelDirectory(path: dir).file("finetune/run.json"))
        f.data = r.data
        f.average = r.average
        let result = try finetune(f, engine: engine, log: log)
        finetuned(result)
        finetunes.append(result)
    }
    let head = "pare prune: \(d.architecture) (\(millions(d.macs)) M MACs, \(d.parameters) params, validation \(String(format: "%.4f", sourceAccuracy)))"
    var stages = PruneResult.SearchStages()
    switch r.method {
    case .search:
        log(head + " by search to \(targetText(finalTarget, r.metric, full))")
        stages = try pruneBySearch(r, source: d, original: original, weightsLabel: weightsLabel(of: weightsName), goal: goal,
                          sourceAccuracy: sourceAccuracy, engine: engine, log: log, finetune: finetuneRound)
    case .criterion(let importance):
        log(head + " on \(dataSource), \(r.method.name) to \(targetText(finalTarget, r.metric, full)) in \(r.rounds) round\(r.rounds == 1 ? "" : "s")")
        let criterion = importance.make(nu: r.nu, theta: r.theta)
        let originalCounts = Pruner(model: original).counts
        var current = original
        for round in 1...r.rounds {
            let dir = round == r.rounds ? r.out : (r.out as NSString).appendingPathComponent("rounds/round-\(round)")
            let roundTarget = Int(Double(full) * pow(Double(finalTarget) / Double(full), Double(round) / Double(r.rounds)))
            let outDir = ModelDirectory(path: dir)
            let done = FileManager.default.fileExists(atPath: outDir.file(ModelDirectory.descriptionFile))
            if done && !r.recipe.resume {
                throw UserError("\(dir): already holds a model; pass --resume to continue this prune, or choose another --out")
            }
            if done, let p = try outDir.readDescription().pruning,
               p.method != r.method.name || p.goal.map({ $0 != goal }) ?? (p.target != targetText(finalTarget, r.metric, full)) || p.rounds != r.rounds || p.round != round || p.minimumWidthFraction != r.minimumWidth {
                throw UserError("\(outDir.file(ModelDirectory.descriptionFile)): round \(p.round)/\(p.rounds) of a \(p.method) prune to \(p.target) (min width \(p.minimumWidthFraction)); --resume needs the same --method, target, --rounds and --min-width")
            }
            if !done {
                let pruner = Pruner(model: current, minimumFraction: r.minimumWidth, originalCounts: originalCounts)
                let scores = criterion.scores(pruner.groups, TensorStore(current))
                let plan = try pruner.plan(scores: scores, target: PruneTarget(metric: r.metric, value: roundTarget))
                let pruned = try pruner.apply(plan, scores: scores)
                evaluation.recalibrate(pruned)
                let accuracy = evaluation.accuracy(pruned)
                var record = ModelDescription.PruningRecord(
                    source: r.model, sourceWeights: weightsLabel(of: weightsName), method: r.method.name,
                    nu: importance == .fpgmWeak ? r.nu : importance == .fpgm ? 1 : nil, theta: importance == .fpgm || importance == .fpgmWeak ? r.theta : nil,
                    minimumWidthFraction: r.minimumWidth, target: targetText(finalTarget, r.metric, full), sourceMacs: d.macs,
                    sourceParameters: d.parameters, widths: widthChanges(pruner, plan, originalCounts), round: round, rounds: r.rounds,
                    sourceValidationAccuracy: sourceAccuracy, prunedValidationAccuracy: accuracy, calibrationImages: evaluation.indices.count)
                record.goal = goal
                var provenance = d.provenance
                provenance.exportedAt = ISO8601DateFormatter().string(from: Date())
                provenance.calibrationImages = evaluation.indices.count
                provenance.inheritedScore = accuracy
                try outDir.write(model: pruned, normalization: d.normalization, provenance: provenance, pruning: record,
                                 folded: r.folded && round == r.rounds, onnx: r.onnx && round == r.rounds)
                log(String(format: "round %d/%d: %@ M MACs, %d params, validation %.4f after BN recalibration -> %@",
                           round, r.rounds, millions(plan.cost.macs), plan.cost.parameters, accuracy, dir))
                for w in record.widths where w.before != w.after { log("  \(w.width): \(w.before) -> \(w.after)") }
            }
            current = try outDir.load(engine: engine).1
            if r.finetuneEpochs > 0 {
                if !FileManager.default.fileExists(atPath: outDir.file(ModelDirectory.finetunedFile)) { try finetuneRound(dir) }
                current = try outDir.load(weights: ModelDirectory.finetunedFile, engine: engine).1
            }
        }
    }
    let final = try ModelDirectory(path: r.out).readDescription()
    return PruneResult(macs: (d.macs, final.macs), parameters: (d.parameters, final.parameters), out: r.out, finetunes: finetunes, bySearch: stages)
}

/// "50.0% of MACs (15.511 M)": a target as pruning records show it.
public func targetText(_ value: Int, _ metric: PruneTarget.Metric, _ full: Int) -> String {
    String(format: "%.1f%% of %@ (%@)", 100 * Double(value) / Double(full), metric == .macs ? "MACs" : "parameters",
           metric == .macs ? "\(millions(value)) M" : "\(value)")
}

/// Every width of the pruned network once (coupled roles joined by "+"), before and after.
func widthChanges(_ pruner: Pruner, _ plan: PrunePlan, _ original: [ChannelGroup.Role: Int]) -> [ModelDescription.PruningRecord.Width] {
    var seen = Set<ChannelGroup.Role>()
    var out: [ModelDescription.PruningRecord.Width] = []
    for g in pruner.groups {
        let roles = g.roles.sorted()
        guard !roles.contains(where: { seen.contains($0) }) else { continue }
        seen.formUnion(roles)
        out.append(.init(width: roles.map(\.description).joined(separator: "+"), before: original[roles[0]] ?? g.channels,
                         after: plan.counts[roles[0]] ?? g.channels))
    }
    return out
}

/// A count in millions with three decimals, as the commands print MACs.
public func millions(_ n: Int) -> String { String(format: "%.3f", Double(n) / 1e6) }

/// Validation accuracy and BN recalibration of standalone models on fixed images.
struct Evaluation {
    let validation: BatchLoader
    let calibration: BatchLoader
    let indices: [Int]

    init(train: Dataset, validation val: Dataset, normalization: Normalization, calibrationImages: Int) {
        // Seed 0: the calibration set of a search and export with their default --seed.
        validation = CalibrationSet.validationLoader(val, normalization: normalization)
        calibration = CalibrationSet.loader(train, normalization: normalization)
        indices = CalibrationSet(images: calibrationImages, seed: 0).indices(count: train.count)
    }

    func accuracy(_ model: Subnet) -> Double {
        ArchitectureEvaluator(network: model).evaluate(arch: model.architecture, loader: validation).accuracy
    }

    func recalibrate(_ model: Subnet) {
        ArchitectureEvaluator(network: model).recalibrate(arch: model.architecture, loader: calibration, indices: indices)
    }
}
