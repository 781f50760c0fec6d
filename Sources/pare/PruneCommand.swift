import ArgumentParser
import Datasets
import Export
import Foundation
import Networks
import Pruning
import Runs
import Search
import Spaces
import TensorCore

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a trained model's channels to a FLOPs or parameter target (L1, L2, network slimming, FPGM, FPGM with weak-layer penalty).",
        discussion: """
        DIR is a model directory (pare export; for a classic network such as search-spaces/resnet20.yaml: \
        pare train then pare export --run RUN). Channels are scored per coupled group (residual additions, \
        a block's expand/depthwise/project chain are pruned together), ranked globally across the network and \
        removed lowest first until the target holds, no width below --min-width of its original count. The \
        pruned network's BN statistics are recalibrated on --calibration-images training images; OUT is a \
        physically smaller model directory (model.json with a 'pruning' record, safetensors, optional ONNX). \
        With --rounds N the target is approached in N geometric steps, each pruned from the previous round \
        (finetuned for --finetune-epochs first); rounds live in OUT/rounds/ and --resume continues them.
        """)

    @Argument(help: "Model directory to prune (written by pare export or pare prune).") var modelDirectory: String
    @Option(help: "Importance criterion: l1, l2 (filter norms), slimming (BN |gamma|), fpgm or fpgm-weak (geometric median; weak layers scaled by --nu); or search (per-layer widths by evolutionary search on a width-only supernet holding the model, channels ordered by --importance).")
    var method = "l1"
    @Option(help: "--method search: the criterion that orders channels before the width supernet inherits them (default l1).") var importance: ImportanceCriterion = .l1
    @Option(help: "--method search: epochs of sandwich training of the width supernet (default 2).") var searchEpochs = 2
    @Option(help: "--method search: population of the evolutionary search (default 30).") var population = 30
    @Option(help: "--method search: generations of the evolutionary search (default 10).") var generations = 10
    @Option(help: "--method search: validation images each candidate is scored on (default: the whole validation split).") var validationImages: Int?
    @Option(help: "MACs target: a percentage of the model's (50%) or a count (15M).") var targetFlops: String?
    @Option(help: "Parameter target: a percentage of the model's (40%) or a count (120K).") var targetParams: String?
    @Option(help: "fpgm-weak: importance factor of weak (redundant) layers, in (0, 1] (default 0.9).") var nu = 0.9
    @Option(help: "fpgm, fpgm-weak: added to each layer's R range before dividing (default 1e-8).") var theta = 1e-8
    @Option(help: "No width falls below this fraction of its original count (default 0.1; never below 1 channel).") var minWidth = 0.1
    @Option(help: "Weights to prune: exported, finetuned, scratch or a .safetensors file (default: finetuned if present).") var weights: String?
    @Option(help: "Output model directory.") var out: String
    @Option(help: "Data source (default: the one in model.json).") var data: String?
    @Option(help: "Training images for the BN recalibration of the pruned network (default 2560).") var calibrationImages = CalibrationSet.defaultImages
    @Option(help: "Prune in N rounds (default 1: one shot).") var rounds = 1
    @Option(help: "Finetune each round's pruned model for E epochs before the next round prunes it (default 0).") var finetuneEpochs = 0
    @Option(help: "With --finetune-epochs: validate and write a moving average of the weights with this decay, as pare finetune --ema (default: off).",
            transform: { try emaDecayArgument($0) }) var ema: Float?
    @Flag(help: "Also write model.onnx.") var onnx = false
    @Flag(help: "Also write the BN-folded inference weights.") var folded = false
    @OptionGroup var options: TrainingOptions

    func validate() throws {
        guard (targetFlops == nil) != (targetParams == nil) else { throw ValidationError("pass exactly one of --target-flops and --target-params") }
        guard method == "search" || channelImportance(named: method, nu: nu) != nil else {
            throw ValidationError("--method: '\(quoted(method))', expected \(ImportanceCriterion.allCases.map(\.rawValue).joined(separator: ", ")) or search")
        }
        if method == "search" {
            guard rounds == 1 else { throw ValidationError("--method search finds its widths in one search; drop --rounds") }
            guard searchEpochs >= 1, population >= 2, generations >= 1, validationImages.map({ $0 >= 1 }) ?? true else {
                throw ValidationError("--search-epochs, --generations and --validation-images must be at least 1, --population at least 2")
            }
        }
        guard nu > 0 && nu <= 1 else { throw ValidationError("--nu must be in (0, 1], got \(nu)") }
        guard theta >= 0 && theta.isFinite else { throw ValidationError("--theta must be a finite number >= 0, got \(theta)") }
        guard minWidth > 0 && minWidth <= 1 else { throw ValidationError("--min-width must be in (0, 1], got \(minWidth)") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be in 1...20, got \(rounds)") }
        guard finetuneEpochs >= 0 else { throw ValidationError("--finetune-epochs must be at least 0") }
        if ema != nil && finetuneEpochs == 0 {
            throw ValidationError("--ema averages the weights of the finetuning: add --finetune-epochs")
        }
        guard options.epochs == nil else { throw ValidationError("use --finetune-epochs for the finetuning of each round, not --epochs") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1") }
    }

    /// "50%" of `full`, or a count.
    static func target(_ text: String, of full: Int, option: String) throws -> Int {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast()), p > 0, p <= 100 else { throw UserError("\(option): '\(quoted(text))' is not a percentage in (0, 100]") }
            return Int(Double(full) * p / 100)
        }
        guard let v = parseCount(text), v > 0 else { throw UserError("\(option): '\(quoted(text))' is not a percentage (50%) or a count (15M)") }
        return v
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: options.threads)
            let source = ModelDirectory(path: modelDirectory)
            let weightsName = try resolveWeights(weights, in: source)
            let (d, original) = try source.load(weights: weightsName, engine: engine)
            var config = TrainConfig(space: d.space, spaceFile: d.provenance.spaceFile, data: data ?? d.provenance.data)
            config.validation = d.provenance.validation
            config.trainLimit = d.provenance.trainLimit
            let (train, val, dataSource) = try loadSplits(config)
            let metric: PruneTarget.Metric = targetFlops != nil ? .macs : .parameters
            let full = metric == .macs ? d.macs : d.parameters
            let finalTarget = try Self.target(targetFlops ?? targetParams!, of: full, option: targetFlops != nil ? "--target-flops" : "--target-params")
            let evaluation = Evaluation(train: train, validation: val, normalization: d.normalization, calibrationImages: calibrationImages)
            let sourceAccuracy = evaluation.accuracy(original)
            if method == "search" {
                logLine("pare prune: \(d.architecture) (\(millions(d.macs)) M MACs, \(d.parameters) params, validation \(String(format: "%.4f", sourceAccuracy))) by search to \(targetText(finalTarget, metric, full))")
                try pruneBySearch(source: d, original: original, weightsLabel: weightsLabel(of: weightsName), metric: metric, target: finalTarget,
                                  sourceAccuracy: sourceAccuracy, engine: engine)
                let final = try ModelDirectory(path: out).readDescription()
                print(String(format: "pruned by search: %@ M -> %@ M MACs, %d -> %d params", millions(d.macs), millions(final.macs), d.parameters, final.parameters))
                return
            }
            logLine("pare prune: \(d.architecture) (\(millions(d.macs)) M MACs, \(d.parameters) params, validation \(String(format: "%.4f", sourceAccuracy))) on \(dataSource), \(method) to \(targetText(finalTarget, metric, full)) in \(rounds) round\(rounds == 1 ? "" : "s")")
            guard let criterion = channelImportance(named: method, nu: nu, theta: theta) else {
                throw UserError("--method: '\(quoted(method))', expected \(ImportanceCriterion.allCases.map(\.rawValue).joined(separator: ", ")) or search")
            }
            let originalCounts = Pruner(model: original).counts
            var current = original
            for round in 1...rounds {
                let dir = round == rounds ? out : (out as NSString).appendingPathComponent("rounds/round-\(round)")
                let roundTarget = Int(Double(full) * pow(Double(finalTarget) / Double(full), Double(round) / Double(rounds)))
                let outDir = ModelDirectory(path: dir)
                let done = FileManager.default.fileExists(atPath: outDir.file(ModelDirectory.descriptionFile))
                if done && !options.resume {
                    throw UserError("\(dir): already holds a model; pass --resume to continue this prune, or choose another --out")
                }
                if done, let r = try outDir.readDescription().pruning,
                   r.method != method || r.target != targetText(finalTarget, metric, full) || r.rounds != rounds || r.round != round || r.minimumWidthFraction != minWidth {
                    throw UserError("\(outDir.file(ModelDirectory.descriptionFile)): round \(r.round)/\(r.rounds) of a \(r.method) prune to \(r.target) (min width \(r.minimumWidthFraction)); --resume needs the same --method, target, --rounds and --min-width")
                }
                if !done {
                    let pruner = Pruner(model: current, minimumFraction: minWidth, originalCounts: originalCounts)
                    let scores = criterion.scores(pruner.groups, TensorStore(current))
                    let plan = try pruner.plan(scores: scores, target: PruneTarget(metric: metric, value: roundTarget))
                    let pruned = try pruner.apply(plan, scores: scores)
                    evaluation.recalibrate(pruned)
                    let accuracy = evaluation.accuracy(pruned)
                    let record = ModelDescription.PruningRecord(
                        source: modelDirectory, sourceWeights: weightsLabel(of: weightsName), method: method,
                        nu: method == "fpgm-weak" ? nu : method == "fpgm" ? 1 : nil, theta: method.hasPrefix("fpgm") ? theta : nil,
                        minimumWidthFraction: minWidth, target: targetText(finalTarget, metric, full), sourceMacs: d.macs,
                        sourceParameters: d.parameters, widths: widthChanges(pruner, plan, originalCounts), round: round, rounds: rounds,
                        sourceValidationAccuracy: sourceAccuracy, prunedValidationAccuracy: accuracy, calibrationImages: evaluation.indices.count)
                    var provenance = d.provenance
                    provenance.exportedAt = ISO8601DateFormatter().string(from: Date())
                    provenance.calibrationImages = evaluation.indices.count
                    provenance.inheritedScore = accuracy
                    try outDir.write(model: pruned, normalization: d.normalization, provenance: provenance, pruning: record,
                                     folded: folded && round == rounds, onnx: onnx && round == rounds)
                    logLine(String(format: "round %d/%d: %@ M MACs, %d params, validation %.4f after BN recalibration -> %@",
                                   round, rounds, millions(plan.cost.macs), plan.cost.parameters, accuracy, dir))
                    for w in record.widths where w.before != w.after { logLine("  \(w.width): \(w.before) -> \(w.after)") }
                }
                current = try outDir.load(engine: engine).1
                if finetuneEpochs > 0 {
                    let finetuned = FileManager.default.fileExists(atPath: outDir.file(ModelDirectory.finetunedFile))
                    if !finetuned {
                        var o = options
                        o.epochs = finetuneEpochs
                        // An interrupted round's finetuning continues from its checkpoint.
                        o.resume = options.resume && FileManager.default.fileExists(atPath: outDir.file("finetune/run.json"))
                        try finetuneModel(dir, options: o, data: data, fromScratch: false, runDirectory: nil, average: ema, engine: engine)
                    }
                    current = try outDir.load(weights: ModelDirectory.finetunedFile, engine: engine).1
                }
            }
            let final = try ModelDirectory(path: out).readDescription()
            print(String(format: "pruned: %@ M -> %@ M MACs (%.1f%% fewer), %d -> %d params (%.1f%% fewer)", millions(d.macs), millions(final.macs),
                         100 * (1 - Double(final.macs) / Double(d.macs)), d.parameters, final.parameters,
                         100 * (1 - Double(final.parameters) / Double(d.parameters))))
            print("  \(out)/model.json; evaluate with: pare eval \(out)" + (finetuneEpochs > 0 ? "" : "; finetune with: pare finetune \(out)"))
        }
    }

    func targetText(_ value: Int, _ metric: PruneTarget.Metric, _ full: Int) -> String {
        String(format: "%.1f%% of %@ (%@)", 100 * Double(value) / Double(full), metric == .macs ? "MACs" : "parameters",
               metric == .macs ? "\(millions(value)) M" : "\(value)")
    }
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

func millions(_ n: Int) -> String { String(format: "%.3f", Double(n) / 1e6) }

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
