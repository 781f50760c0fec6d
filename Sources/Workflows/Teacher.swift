import Export
import Foundation
import Networks
import Runs
import Spaces
import TensorCore
import Training

/// A teacher for knowledge distillation as a run stores it: the model directory `path`, its
/// resolved weights file and that file's CRC-32 (so a resume distills from the same weights).
public func resolveTeacher(_ teacher: String, weights: WeightsChoice?, alpha: Float, temperature: Float) throws -> TeacherDistillation {
    let dir = ModelDirectory(path: teacher)
    let d = try dir.readDescription()
    let name = try resolveWeights(weights, in: dir) ?? d.weights
    let path = URL(fileURLWithPath: name.hasPrefix("/") ? name : dir.file(name)).standardizedFileURL.path
    guard let data = FileManager.default.contents(atPath: path) else { throw UserError("\(path): the teacher's weights cannot be read") }
    // Absolute paths: a resume may start from another directory.
    return TeacherDistillation(model: URL(fileURLWithPath: teacher).standardizedFileURL.path, weightsFile: path, weightsCRC32: CheckpointFile.crc(data),
                               alpha: alpha, temperature: temperature)
}

/// Loads the teacher `t` describes (the same weights file, unchanged) and attaches it to
/// `training`, after checking that it sees the same inputs and classes as `student`.
func attachTeacher(_ t: TeacherDistillation, to training: TrainingRun, student: ModelDescription, engine: Engine, log: Log) throws {
    guard let data = FileManager.default.contents(atPath: t.weightsFile) else {
        throw UserError("\(t.weightsFile): the teacher's weights cannot be read; the run distills from them (run.json)")
    }
    let crc = CheckpointFile.crc(data)
    guard crc == t.weightsCRC32 else {
        throw UserError(String(format: "%@: the teacher's weights changed since the run started (CRC-32 %08x, run.json has %08x); distilling from other weights would not continue the same training",
                               t.weightsFile, crc, t.weightsCRC32))
    }
    let dir = ModelDirectory(path: t.model)
    let (d, network) = try dir.load(weights: t.weightsFile, engine: engine)
    let json = dir.file(ModelDirectory.descriptionFile)
    guard d.classes == student.classes, d.inputShape == student.inputShape else {
        throw UserError("\(json): the teacher classifies \(d.classes) classes of \(d.inputShape) inputs, the model \(student.classes) of \(student.inputShape)")
    }
    guard d.normalization == student.normalization else {
        throw UserError("\(json): the teacher expects inputs normalized with mean \(d.normalization.mean), std \(d.normalization.std); the model's are \(student.normalization.mean), \(student.normalization.std) (another data set?)")
    }
    let arch = try Architecture(parsing: d.architecture, space: d.space)
    training.attach(teacher: Teacher(network: network, architecture: arch, alpha: t.alpha, temperature: t.temperature,
                                     labelSmoothing: training.config.recipe.labelSmoothing))
    log(String(format: "distilling from %@ (%@, %.3f M MACs, %d params; weight %g, temperature %g)",
                   t.model, d.architecture, Double(d.macs) / 1e6, d.parameters, t.alpha, t.temperature))
}
