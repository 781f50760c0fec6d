import Datasets
import Export
import Foundation
import Runs
import Spaces
import Networks
import TensorCore

/// Trains the model of an exported directory from its exported weights (or from scratch),
/// with progress, metrics and checkpoints in `runDirectory` (default DIR/finetune or
/// DIR/scratch), and writes DIR/model.finetuned.safetensors (model.scratch.safetensors).
/// What `pare finetune` runs, and `pare prune --finetune-epochs` after each round.
func finetuneModel(_ modelDirectory: String, options: TrainingOptions, data: String?, fromScratch: Bool, runDirectory: String?,
                   engine: Engine) throws {
    let model = ModelDirectory(path: modelDirectory)
    let description = try model.readDescription()
    let arch = try Architecture(parsing: description.architecture, space: description.space)
    let dir = try RunDirectory(path: runDirectory ?? model.file(fromScratch ? "scratch" : "finetune"))
    try dir.lock()
    var config: TrainConfig
    if options.resume {
        config = try loadTrainConfig(dir, hint: "start finetuning without --resume")
    } else {
        if !dir.checkpoints().isEmpty {
            throw UserError("\(dir.path): already has checkpoints; pass --resume to continue, or remove it to start over")
        }
        config = TrainConfig(space: description.space, spaceFile: description.provenance.spaceFile, data: description.provenance.data)
        config.validation = description.provenance.validation
        config.trainLimit = description.provenance.trainLimit
        config.fixedArchitecture = arch
        config.probes = 0
    }
    var changes = ConfigChanges(resume: options.resume)
    changes.set("--data", data, \.data, in: &config)
    try options.apply(to: &config, changes: &changes, dir: dir)
    guard config.fixedArchitecture == arch, config.space == description.space else {
        throw UserError("\(dir.configPath): finetunes another model than \(model.file(ModelDirectory.descriptionFile))")
    }
    let (train, val, source) = try loadSplits(config)
    let training = try TrainingRun(config: config, train: train, validation: val, normalization: description.normalization, engine: engine)
    guard training.totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(config.recipe.batchSize)") }
    let start: String
    if options.resume {
        let path = try training.resumeFromNewest(dir, warn: logLine)
        logLine("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
        start = "resumed"
    } else {
        if !fromScratch {
            // The inherited weights replace the fresh initialisation before step 1.
            let (_, inherited) = try model.load(engine: engine)
            try withExtendedLifetime(inherited) {
                let targets = training.network.stateTensors, sources = inherited.stateTensors
                guard targets.map(\.name) == sources.map(\.name), targets.map(\.shape) == sources.map(\.shape) else {
                    throw UserError("\(model.file(ModelDirectory.weightsFile)): tensors differ from the network model.json describes")
                }
                for (t, s) in zip(targets, sources) { t.pointer.update(from: s.pointer, count: t.count) }
            }
        }
        try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
        start = fromScratch ? "from scratch" : "from the exported weights"
    }
    logLine("pare finetune: \(arch) (\(String(format: "%.3f", Double(description.macs) / 1e6)) M MACs, \(description.parameters) params) on \(source), \(train.count) train / \(val.count) validation, \(config.epochs) epochs, \(start)")
    try runTrainingLoop(training, dir, command: "pare finetune \(modelDirectory) --resume" + (fromScratch ? " --from-scratch" : "") + (runDirectory.map { " --run \($0)" } ?? ""))
    let weights = fromScratch ? ModelDirectory.scratchFile : ModelDirectory.finetunedFile
    try model.writeWeights(training.network, to: weights, metadata: ["architecture": arch.description, "trained": fromScratch ? "from scratch" : "from the exported weights", "epochs": "\(config.epochs)"])
    try model.recordWeights(weights, weights: fromScratch ? "scratch" : "finetuned")
    print("weights: \(model.file(weights)) (evaluate with: pare eval \(modelDirectory) --weights \(fromScratch ? "scratch" : "finetuned"))")
}
