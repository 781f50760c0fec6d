import Datasets
import Foundation
import Layers
import Runs
import Spaces
import Networks
import TensorCore
import Testing
import _TestSupport

/// A small space and data set so whole training runs take a fraction of a second.
/// `fixed`: a standalone model of one architecture (what `pare finetune` trains).
func tinyTraining(sampling: SamplingStrategy = .uniform, seed: UInt64 = 5, epochs: Int = 2, fixed: Bool = false) throws -> TrainingRun {
    let space = try SpaceFile.parse("""
        name: tiny
        input: {channels: 1, size: 12}
        classes: 4
        stem: {channels: 4}
        stages:
          - {blocks: 2, stride: 2, widths: [6, 8], operators: [shuffle3, shuffle5, xception], middle_ratios: [0.5, 1.0, 1.5]}
          - {blocks: 1, stride: 2, widths: [12, 16], operators: [mbconv3_e3, mbconv5_e6], middle_ratios: [0.5, 1.0]}
        head: {channels: 16}
        """, file: "tiny.yaml")
    var spec = SyntheticSpec()
    spec.height = 12; spec.width = 12; spec.classes = 4; spec.trainCount = 200; spec.testCount = 10
    let (all, _) = try DataSource.synthetic(spec).load()
    let (train, val) = try all.splitValidation(40)
    var config = TrainConfig(space: space, spaceFile: "tiny.yaml", data: "synthetic")
    config.epochs = epochs
    config.seed = seed
    config.sampling = sampling
    config.recipe.batchSize = 32
    config.augmentation = Augmentation(cropPadding: 1, horizontalFlip: true)
    config.probes = 1
    config.calibrationBatches = 1
    if fixed { config.fixedArchitecture = space.randomArchitecture(RNG(seed: 1)) }
    return try TrainingRun(config: config, train: train, validation: val, normalization: Normalization.fit(train))
}

func stateSnapshot(_ t: TrainingRun) -> [[Float]] {
    t.network.parameters.flatMap { p in
        [Array(UnsafeBufferPointer(start: p.value, count: p.count)), Array(UnsafeBufferPointer(start: p.velocity, count: p.count))]
    } + t.network.norms.flatMap { bn in
        [Array(UnsafeBufferPointer(start: bn.runningMean, count: bn.maxChannels)), Array(UnsafeBufferPointer(start: bn.runningVariance, count: bn.maxChannels))]
    }
}

final class TempRun {
    let path = NSTemporaryDirectory() + "pare-run-\(UUID().uuidString)"
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct ResumeTests {
    init() { BLAS.configure() }

    @Test(arguments: ["uniform", "fair", "sandwich", "band", "fixed"])
    func resumeEqualsUninterrupted(strategy: String) throws {
        let sampling: SamplingStrategy
        switch strategy {
        case "fair": sampling = .fair
        case "sandwich": sampling = .sandwich
        case "band": sampling = .flopsBand(minMACs: 60_000, maxMACs: 120_000)
        default: sampling = .uniform
        }
        let fixed = strategy == "fixed"
        let whole = try tinyTraining(sampling: sampling, fixed: fixed)
        while !whole.finished { _ = try whole.trainStep() }
        // Stop after 7 steps (mid-epoch: 5 batches per epoch), checkpoint, resume in a fresh
        // process-like object (different in-memory init), finish.
        let first = try tinyTraining(sampling: sampling, fixed: fixed)
        for _ in 0..<7 { _ = try first.trainStep() }
        _ = first.evaluateProbes()                 // probing must not change the state
        let bytes = try first.checkpoint()
        let second = try tinyTraining(sampling: sampling, seed: 5, fixed: fixed)
        _ = try second.trainStep()                 // disturb it: restore must overwrite everything
        try second.restore(from: bytes, path: "mem")
        #expect(second.step == 7 && second.epoch == 1)
        while !second.finished { _ = try second.trainStep() }
        #expect(stateSnapshot(second) == stateSnapshot(whole), "\(strategy): resumed run differs")
        #expect(second.rng.state == whole.rng.state)
    }

    @Test func badCheckpointsAreRejectedAndOlderOnesUsed() throws {
        let run = TempRun()
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
        let run = TempRun()
        let a = try RunDirectory(path: run.path)
        try a.lock()
        let b = try RunDirectory(path: run.path)
        #expect(throws: RunError.self) { try b.lock() }
        a.unlock()
        try b.lock()
    }

    @Test func readersShareTheLockButExcludeAWriter() throws {
        let run = TempRun()
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

@Suite struct SamplingTests {
    let space = SearchSpace.reference

    @Test func uniformCoversEveryChoice() throws {
        let s = try ArchitectureSampler(space: space, strategy: .uniform)
        let rng = RNG(seed: 1)
        var seen = Set<String>()
        for _ in 0..<2000 { for g in try s.next(rng: rng).genes { seen.insert("\(g.op)@\(g.ratioTenths)") } }
        #expect(seen.count == 4 * 10)
    }

    @Test func flopsBandIsRespected() throws {
        let s = try ArchitectureSampler(space: space, strategy: .flopsBand(minMACs: 2_000_000, maxMACs: 2_500_000))
        let rng = RNG(seed: 2)
        for _ in 0..<300 {
            let m = space.cost(try s.next(rng: rng)).macs
            #expect(m >= 2_000_000 && m <= 2_500_000)
        }
        #expect(throws: SamplingError.self) { try ArchitectureSampler(space: space, strategy: .flopsBand(minMACs: 10_000_000, maxMACs: 20_000_000)) }
        let narrow = try ArchitectureSampler(space: space, strategy: .flopsBand(minMACs: 1_060_926, maxMACs: 1_060_926))
        #expect(throws: SamplingError.self) { try narrow.next(rng: rng) }
    }

    @Test func fairnessUsesEveryOperatorOncePerRound() throws {
        let s = try ArchitectureSampler(space: space, strategy: .fair)
        let rng = RNG(seed: 3)
        for _ in 0..<25 {
            let round = try (0..<4).map { _ in try s.next(rng: rng) }
            for b in 0..<space.blocks.count {
                #expect(Set(round.map { $0.genes[b].op }).count == 4)
            }
        }
    }

    @Test func sandwichCyclesLargestSmallestRandom() throws {
        let s = try ArchitectureSampler(space: space, strategy: .sandwich)
        let rng = RNG(seed: 4)
        for _ in 0..<5 {
            #expect(try s.next(rng: rng) == space.largest)
            #expect(try s.next(rng: rng) == space.smallest)
            try space.validate(try s.next(rng: rng))
        }
    }
}

@Suite struct LatencyProfilerTests {
    @Test func tableHasAPositiveEntryForEverySignature() throws {
        BLAS.configure()
        let t = try tinyTraining()
        let profiler = LatencyProfiler(network: t.network, batch: 2, repeats: 2)
        let table = profiler.table(machine: "test")
        #expect(table.entries.count == t.config.space.allSignatures().count)
        #expect(table.entries.allSatisfy { $0.milliseconds > 0 })
        let rng = RNG(seed: 1)
        for _ in 0..<20 { #expect(table.predictMs(t.config.space.randomArchitecture(rng)) != nil) }
        #expect(profiler.measure(t.config.space.largest) > 0)
    }
}
