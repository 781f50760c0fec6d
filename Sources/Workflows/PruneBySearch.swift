import Datasets
import Export
import Foundation
import Networks
import Pruning
import Runs
import Spaces
import TensorCore

/// `pare prune --method search`: AutoSlim / MetaPruning's per-layer widths for a trained
/// network. Its channels are reordered by importance, it becomes the largest candidate of a
/// width-only supernet (OUT/supernet) trained briefly with sandwich sampling, the
/// evolutionary search finds the best candidate under the target, and the winner is exported
/// to OUT. Every stage resumes: the supernet run from its checkpoints, the search from its
/// state.
extension PruneCommand {
    func pruneBySearch(source d: ModelDescription, original: Subnet, weightsLabel label: String, metric: PruneTarget.Metric,
                       target: Int, sourceAccuracy: Double, engine: Engine) throws {
        let runPath = (out as NSString).appendingPathComponent("supernet")
        let dir = try RunDirectory(path: runPath)
        let fresh = !FileManager.default.fileExists(atPath: dir.configPath)
        if !fresh && !options.resume {
            throw UserError("\(runPath): a prune by search is under way here; pass --resume to continue it, or choose another --out")
        }
        try dir.lock()
        do {
            defer { dir.unlock() }
            let config: TrainConfig
            if fresh {
                let groups = original.channelGroups
                let criterion = importance.make(nu: nu)
                ChannelOrder.sort(groups, scores: criterion.scores(groups, TensorStore(original)), in: TensorStore(original))
                var c = TrainConfig(space: try WidthSpace.make(from: original), spaceFile: "width space of \(modelDirectory)",
                                    data: data ?? d.provenance.data)
                c.validation = d.provenance.validation
                c.trainLimit = d.provenance.trainLimit
                c.epochs = searchEpochs
                c.sampling = .sandwich
                c.probes = 1
                c.recipe.learningRate = 0.05
                var o = options
                o.epochs = nil
                var changes = ConfigChanges(resume: false)
                try o.apply(to: &c, changes: &changes, dir: dir)
                config = c
            } else {
                config = try loadTrainConfig(dir, hint: "remove \(out) and start again")
            }
            let (train, val, _) = try loadSplits(config)
            let training = try TrainingRun(config: config, train: train, validation: val, normalization: d.normalization, engine: engine)
            if fresh {
                try WidthSpace.inherit(original, into: training.supernet!)
                try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
                logLine(String(format: "width supernet: %@ (10^%.1f candidates), the reordered model as its largest; %d epochs of sandwich sampling",
                               config.space.name, config.space.log10Candidates, config.epochs))
            } else {
                let path = try training.resumeFromNewest(dir, warn: logLine)
                logLine("resumed the width supernet from \(path) at step \(training.step) of \(training.totalSteps)")
            }
            if !training.finished {
                _ = try runTrainingLoop(training, dir, command: "pare prune \(modelDirectory) --method search --out \(out) --resume")
            }
        }
        let searchDir = (runPath as NSString).appendingPathComponent("search")
        if !FileManager.default.fileExists(atPath: searchDir + "/best.json") {
            var args = ["--run", runPath, metric == .macs ? "--max-flops" : "--max-params", "\(target)",
                        "--population", "\(population)", "--generations", "\(generations)",
                        // Each generation breeds about one population of new candidates.
                        "--parents", "\(max(2, population / 3))", "--mutations", "\(population / 2)", "--crossovers", "\(population / 2)",
                        "--calibration-images", "\(calibrationImages)"]
            if let validationImages { args += ["--validation-images", "\(validationImages)"] }
            if FileManager.default.fileExists(atPath: searchDir + "/state.json") { args.append("--resume") }
            let search = try SearchCommand.parse(args)
            try search.run()
        }
        let export = try ExportCommand.parse(["--run", runPath, "--out", out, "--calibration-images", "\(calibrationImages)"]
                                             + (onnx ? ["--onnx"] : []) + (folded ? ["--folded"] : []))
        try export.run()
        let model = ModelDirectory(path: out)
        var description = try model.readDescription()
        let before = Pruner(model: original).counts
        let (_, pruned) = try model.load(engine: engine)
        let after = Pruner(model: pruned).counts
        description.pruning = ModelDescription.PruningRecord(
            source: modelDirectory, sourceWeights: label, method: "search (\(importance.rawValue) order)", nu: importance == .fpgmWeak ? nu : nil,
            theta: nil, minimumWidthFraction: Double(WidthSpace.defaultFractions[0]) / 10, target: targetText(target, metric, metric == .macs ? d.macs : d.parameters),
            sourceMacs: d.macs, sourceParameters: d.parameters,
            widths: before.keys.sorted().map { .init(width: $0.description, before: before[$0]!, after: after[$0] ?? before[$0]!) },
            round: 1, rounds: 1, sourceValidationAccuracy: sourceAccuracy, prunedValidationAccuracy: description.provenance.inheritedScore ?? 0,
            calibrationImages: calibrationImages)
        try AtomicFile.writeJSON(encodable: description, to: model.file(ModelDirectory.descriptionFile))
        if finetuneEpochs > 0 && !FileManager.default.fileExists(atPath: model.file(ModelDirectory.finetunedFile)) {
            var o = options
            o.epochs = finetuneEpochs
            o.resume = options.resume && FileManager.default.fileExists(atPath: model.file("finetune/run.json"))
            try finetuneModel(out, options: o, data: data, fromScratch: false, runDirectory: nil, average: ema, engine: engine)
        }
    }
}
