import Foundation
import Testing

/// `pare finetune --teacher`: distillation from another exported model, through an
/// interruption (the resume reloads the same teacher, and refuses a changed one).
@Suite struct TeacherCLITests {
    @Test func finetuneDistillsFromATeacherAndResumesWithIt() throws {
        let base = NSTemporaryDirectory() + "pare-teacher-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        // The teacher: the space's largest architecture, by name.
        let large = "32/64/128:shuffle7@2.0,xception@2.0,shuffle7@2.0,xception@2.0,shuffle7@2.0,xception@2.0"
        try CLI.exportedModels(base, [(CLI.small, "student"), ("largest", "teacher"), (CLI.small, "plain")])
        var r: (status: Int32, stdout: String, stderr: String)
        try FileManager.default.copyItem(atPath: base + "/student", toPath: base + "/copy")
        let teacher = base + "/teacher"
        let options = ["--epochs", "20", "--checkpoint-every", "5", "--lr", "0.01", "--teacher", teacher, "--distill-weight", "0.7", "--temperature", "2"]
        r = try CLI.run(["finetune", base + "/student"] + options)
        #expect(r.status == 0 && r.stderr.contains("distilling from \(teacher) (\(large)"), "\(r.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base + "/student/finetune/run.json"))) as! [String: Any]
        let stored = config["teacher"] as? [String: Any]
        #expect(stored?["alpha"] as? Double == 0.7 && stored?["temperature"] as? Double == 2
                && stored?["weightsFile"] as? String == teacher + "/model.safetensors", "\(String(describing: stored))")
        // Without the teacher the same finetune ends elsewhere (the teacher is used).
        r = try CLI.run(["finetune", base + "/plain", "--epochs", "20", "--checkpoint-every", "5", "--lr", "0.01"])
        #expect(r.status == 0, "\(r.stderr)")
        func weights(_ dir: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: base + "/\(dir)/model.finetuned.safetensors")) }
        #expect(try weights("student") != weights("plain"))

        // Interrupted, then resumed without repeating the teacher options: the same weights.
        let status = try TrainCLITests().interrupted(["finetune", base + "/copy"] + options, run: base + "/copy/finetune", signal: SIGINT)
        #expect(status == 130)
        // A changed teacher is refused in one line naming its file; the original resumes.
        let teacherWeights = teacher + "/model.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: teacherWeights))
        try FileManager.default.removeItem(atPath: teacherWeights)
        var changed = original
        changed[changed.count - 1] ^= 0x40
        try changed.write(to: URL(fileURLWithPath: teacherWeights))
        r = try CLI.run(["finetune", base + "/copy", "--resume"])
        #expect(r.status == 1 && r.stderr.hasPrefix("error: \(teacherWeights): the teacher's weights changed since the run started")
                && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        try original.write(to: URL(fileURLWithPath: teacherWeights))
        r = try CLI.run(["finetune", base + "/copy", "--resume"])
        #expect(r.status == 0 && r.stderr.contains("resumed from") && r.stderr.contains("distilling from"), "\(r.stderr)")
        #expect(try weights("student") == weights("copy"), "resumed distillation must end with the same weights")

        // Refusals, one line each.
        for (args, message) in [(["--temperature", "2"], "--temperature sets up distillation from a teacher: add --teacher DIR"),
                                (["--teacher", teacher, "--distill-weight", "1.5"], "--distill-weight must be in [0, 1], got 1.5"),
                                (["--teacher", teacher, "--temperature", "0"], "--temperature must be in (0, 100], got 0.0"),
                                (["--teacher", base + "/nothing"], "\(base)/nothing/model.json: cannot read")] {
            r = try CLI.run(["finetune", base + "/plain", "--run", base + "/refused"] + args)
            #expect(r.status != 0 && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }
}
