import Datasets
import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

@Suite struct ResumeTests {
    init() { BLAS.configure() }

    @Test(arguments: ["uniform", "fair", "sandwich", "band", "fixed", "crop", "transform+warmup", "distill", "distill+progressive", "pruningnet", "fixed+slimming", "fixed+teacher", "fixed+ema"])
    func resumeEqualsUninterrupted(strategy: String) throws {
        let sampling: SamplingStrategy
        switch strategy {
        case "fair": sampling = .fair
        case "sandwich": sampling = .sandwich
        case "distill", "distill+progressive": sampling = .distill(random: 1)
        case "band": sampling = .flopsBand(minMACs: 60_000, maxMACs: 120_000)
        default: sampling = .uniform
        }
        let fixed = strategy.hasPrefix("fixed")
        let sharing: KernelSharing = strategy == "crop" ? .centreCrop : strategy.hasPrefix("transform") ? .transform : .separate
        let warmup = strategy.hasSuffix("warmup") ? 1.5 : 0
        func run(seed: UInt64 = 5) throws -> TrainingRun {
            // Progressive: the kernel opens at epoch 1, mid-run; the resume point (step 7) lies after it.
            try tinyTraining(sampling: sampling, seed: seed, fixed: fixed, sharing: sharing, warmupEpochs: warmup,
                             progressive: strategy.hasSuffix("progressive") ? ProgressiveShrinking(kernelEpoch: 1, widthEpoch: 1, operatorEpoch: 1) : nil,
                             pruningNet: strategy == "pruningnet", slimming: strategy.hasSuffix("slimming") ? 1e-3 : 0,
                             teacher: strategy.hasSuffix("teacher"), average: strategy.hasSuffix("ema") ? 0.9 : 0)
        }
        let whole = try run()
        while !whole.finished { _ = try whole.trainStep() }
        // Stop after 7 steps (mid-epoch: 5 batches per epoch), checkpoint, resume in a fresh
        // process-like object (different in-memory init), finish.
        let first = try run()
        for _ in 0..<7 { _ = try first.trainStep() }
        _ = first.evaluateProbes()                 // probing must not change the state
        let bytes = try first.checkpoint()
        let second = try run()
        _ = try second.trainStep()                 // disturb it: restore must overwrite everything
        try second.restore(from: bytes, path: "mem")
        #expect(second.step == 7 && second.epoch == 1)
        while !second.finished { _ = try second.trainStep() }
        let a = stateSnapshot(second), b = stateSnapshot(whole)
        let differing = zip(a.indices, zip(a, b)).filter { $1.0 != $1.1 }.map(\.0)
        #expect(differing.isEmpty, "\(strategy): resumed run differs in \(differing.count) of \(a.count) state arrays (first: \(differing.first.map { stateNames(second)[$0] } ?? ""))")
        #expect(second.rng.state == whole.rng.state)
    }

    /// The teacher changes what a standalone model learns (so the resume test above covers
    /// a step that uses it), and leaves its own weights and statistics untouched.
    @Test func aTeacherChangesTraining() throws {
        let plain = try tinyTraining(fixed: true), taught = try tinyTraining(fixed: true, teacher: true)
        let teacher = taught.trainer.teacher!.network
        let before = teacher.parameters.map { Array(UnsafeBufferPointer(start: $0.value, count: $0.count)) }
        let means = teacher.norms.map { Array(UnsafeBufferPointer(start: $0.runningMean, count: $0.maxChannels)) }
        while !plain.finished { _ = try plain.trainStep() }
        while !taught.finished { _ = try taught.trainStep() }
        #expect(stateSnapshot(plain) != stateSnapshot(taught))
        #expect(teacher.parameters.map { Array(UnsafeBufferPointer(start: $0.value, count: $0.count)) } == before)
        #expect(teacher.norms.map { Array(UnsafeBufferPointer(start: $0.runningMean, count: $0.maxChannels)) } == means)
    }

    @Test func badCheckpointsAreRejectedAndOlderOnesUsed() throws {
        let run = TemporaryDirectory("run")
        defer { withExtendedLifetime(run) {} }
        let dir = try RunDirectory(path: run.path)
        let t = try tinyTraining()
        for _ in 0..<3 { _ = try t.trainStep() }
        let good = try t.checkpoint()
        try dir.writeCheckpoint(good, step: 3, keep: 5)
        _ = try t.trainStep()
        let newer = try t.checkpoint()
        // Newest file truncated (a crash mid-copy would look like this).
        let newestPath = try dir.writeCheckpoint(newer.prefix(newer.count - 100), step: 4, keep: 5)
        let fresh = try tinyTraining()
        var warnings: [String] = []
        let used = try fresh.resumeFromNewest(dir) { warnings.append($0) }
        #expect(fresh.step == 3 && used.hasSuffix("ckpt-000000003.bin"))
        #expect(warnings.count == 1 && warnings[0].contains(newestPath) && warnings[0].contains("truncated"))
        // Reading the trained supernet (search, export) loads the same weights and statistics,
        // skipping the same damaged file, and builds nothing of the training state.
        var readWarnings: [String] = []
        let (read, readPath) = try Supernet.trained(dir, space: t.config.space) { readWarnings.append($0) }
        #expect(readPath == used && readWarnings.count == 1)
        let trainedState = fresh.network.stateTensors.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) }
        #expect(read.stateTensors.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) } == trainedState)
        #expect(read.parameters.allSatisfy { !$0.hasVelocity })

        func failure(_ data: Data) -> String {
            do { try (try tinyTraining()).restore(from: data, path: "x.bin"); return "loaded" } catch { return "\(error)" }
        }
        var flipped = good
        flipped[flipped.count / 2] ^= 0x40
        #expect(failure(flipped) == "x.bin: unusable checkpoint (checksum mismatch (corrupt file))")
        #expect(failure(Data("not a checkpoint at all, just text".utf8)).contains("wrong magic"))
        #expect(failure(good + Data([1, 2, 3])).contains("trailing bytes"))
        #expect(failure(good.prefix(10)).contains("truncated"))
        // A checkpoint of another space is refused before anything is loaded.
        let other = try TrainingRun(config: TrainConfig(space: .reference, spaceFile: "reference", data: "synthetic"),
                                         train: SyntheticSpec().generate(count: 300, seed: 1), validation: SyntheticSpec().generate(count: 20, seed: 2),
                                         normalization: Normalization(mean: [0.5], std: [0.3]))
        let foreign = try other.checkpoint()
        let target = try tinyTraining()
        let before = stateSnapshot(target)
        #expect(throws: RunError.self) { try target.restore(from: foreign, path: "other.bin") }
        #expect(stateSnapshot(target) == before)
        // Keeping the newest K.
        for s in 5...9 { try dir.writeCheckpoint(good, step: s, keep: 2) }
        #expect(dir.checkpoints().map(\.step) == [9, 8])
        // No valid checkpoint at all.
        let empty = try RunDirectory(path: run.path + "/empty")
        #expect(throws: RunError.noCheckpoint(directory: empty.checkpointDirectory)) { try fresh.resumeFromNewest(empty) { _ in } }
    }

    @Test func lockStopsASecondWriter() throws {
        let run = TemporaryDirectory("run")
        defer { withExtendedLifetime(run) {} }
        let a = try RunDirectory(path: run.path)
        try a.lock()
        let b = try RunDirectory(path: run.path)
        #expect(throws: RunError.self) { try b.lock() }
        a.unlock()
        try b.lock()
    }

    @Test func readersShareTheLockButExcludeAWriter() throws {
        let run = TemporaryDirectory("run")
        defer { withExtendedLifetime(run) {} }
        let writer = try RunDirectory(path: run.path)
        let r1 = try RunDirectory(path: run.path), r2 = try RunDirectory(path: run.path)
        try r1.lock(shared: true)
        try r2.lock(shared: true)  // two readers (a search and a correlate) at once
        do {
            try writer.lock()
            Issue.record("a writer got the lock while readers held it")
        } catch let RunError.locked(path, holder) {
            #expect(path == run.path && holder.hasPrefix("pid \(getpid())"))
        }
        r1.unlock(); r2.unlock()
        try writer.lock()
        #expect(throws: RunError.self) { try r1.lock(shared: true) }
    }
}
