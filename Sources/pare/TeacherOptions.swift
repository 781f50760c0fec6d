import ArgumentParser
import Networks
import Training
import Workflows

/// `pare finetune --teacher`: knowledge distillation from another trained model directory.
struct TeacherOptions: ParsableArguments {
    @Option(help: "Knowledge distillation: a model directory (pare export, usually finetuned; a larger model of the same data) whose outputs on the same augmented batches the model learns from as well as the labels.")
    var teacher: String?
    @Option(help: "With --teacher: the teacher's weights, exported, finetuned (the default when present) or a file.")
    var teacherWeights: WeightsChoice?
    @Option(help: "With --teacher: weight of the teacher's term in the loss, in [0, 1] (default 0.5; the labels' term gets the rest).")
    var distillWeight: Float?
    @Option(help: "With --teacher: softmax temperature of the teacher's term (default 2).") var temperature: Float?

    func validate() throws {
        if teacher == nil {
            for (flag, given) in [("--teacher-weights", teacherWeights != nil), ("--distill-weight", distillWeight != nil), ("--temperature", temperature != nil)] where given {
                throw ValidationError("\(flag) sets up distillation from a teacher: add --teacher DIR")
            }
        }
        if let a = distillWeight, !(a >= 0 && a <= 1) { throw ValidationError("--distill-weight must be in [0, 1], got \(a)") }
        if let t = temperature, !(t > 0 && t.isFinite && t <= 100) { throw ValidationError("--temperature must be in (0, 100], got \(t)") }
    }

    /// The run's teacher settings (nil without --teacher).
    func resolve() throws -> TeacherDistillation? {
        try teacher.map { try resolveTeacher($0, weights: teacherWeights, alpha: distillWeight ?? 0.5, temperature: temperature ?? 2) }
    }
}
