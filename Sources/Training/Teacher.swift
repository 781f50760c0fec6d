import Layers
import Networks
import Spaces
import TensorCore

/// Knowledge distillation from a trained teacher model while training a standalone one
/// (`pare finetune --teacher`), as stored in run.json: a resume loads the same teacher and
/// refuses one whose weights file changed.
public struct TeacherDistillation: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The teacher's model directory (absolute path).
    public var model: String
    /// Its weights file (absolute path) and that file's CRC-32.
    public var weightsFile: String
    public var weightsCRC32: UInt32
    /// Weight of the teacher's term in the loss, in [0, 1] (DistillationLoss).
    public var alpha: Float
    /// Softmax temperature of the teacher's term (> 0).
    public var temperature: Float

    public init(model: String, weightsFile: String, weightsCRC32: UInt32, alpha: Float, temperature: Float) {
        self.model = model
        self.weightsFile = weightsFile
        self.weightsCRC32 = weightsCRC32
        self.alpha = alpha
        self.temperature = temperature
    }

    public var description: String {
        "\(model) (weights \(weightsFile), CRC-32 \(String(weightsCRC32, radix: 16)), weight \(alpha), temperature \(temperature))"
    }
}

/// A trained network that supplies soft targets: it runs in inference mode (running BN
/// statistics, no gradient) on the student's batch — the same augmented images.
public struct Teacher {
    public let network: any Network
    public let architecture: Architecture
    let loss: DistillationLoss

    public init(network: any Network, architecture: Architecture, alpha: Float, temperature: Float, labelSmoothing: Float) {
        self.network = network
        self.architecture = architecture
        loss = DistillationLoss(alpha: alpha, temperature: temperature, labelSmoothing: labelSmoothing)
    }

    /// The teacher's logits [classes, 1, 1, N] for `images` (in the teacher's buffer).
    func logits(_ images: FeatureMap) -> FeatureMap {
        network.forward(images, arch: architecture, mode: .inference)
    }
}

extension TrainingRun {
    /// Trains the rest of the run against `teacher` as `config.teacher` describes (the caller
    /// loads it: networks do not read model directories).
    public func attach(teacher: Teacher) {
        guard let t = config.teacher else { preconditionFailure("a teacher for a run configured without one") }
        precondition(config.fixedArchitecture != nil, "distillation from a teacher trains a standalone model")
        precondition(teacher.loss.alpha == t.alpha && teacher.loss.temperature == t.temperature
                     && teacher.loss.labelSmoothing == config.recipe.labelSmoothing, "teacher settings differ from the run's")
        trainer.teacher = teacher
    }
}
