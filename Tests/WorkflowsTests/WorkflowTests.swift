import Distributed
import Export
import Foundation
import Networks
import Runs
import Search
import Spaces
import Testing
import Workflows
import _TestSupport

/// Every workflow driven as a library call, without the binary: a 1-epoch reference supernet
/// on synthetic data, searched, exported, finetuned, quantized and pruned.
@Suite(.serialized) struct WorkflowTests {
    /// One supernet trained for the suite (each test works in directories of its own under
    /// it); a failure fails each test that needs it, not the test process.
    static let fixture = Result<String, any Error> {
        let path = NSTemporaryDirectory() + "pare-workflows-\(UUID().uuidString)"
        var r = TrainRequest(run: path + "/run")
        r.space = "reference"
        r.data = "synthetic"
        r.sampling = .uniform
        r.probes = 0
        r.recipe.epochs = 1
        let result = try trainSupernet(r, job: SingleProcess(), engine: startEngine(threads: 1), log: { _ in })
        guard result?.training.steps == 1024 / 128 else { throw UserError("the fixture trained \(result?.training.steps ?? 0) steps, expected 8") }
        return path
    }
    static var base: String { get throws { try fixture.get() } }
    static var run: String { get throws { try base + "/run" } }
    static func quiet(_ line: String) {}

    /// A model exported to BASE/name (the space's smallest, unless given).
    static func exported(_ name: String, _ choice: ArchitectureChoice = .smallest) throws -> ExportResult {
        var e = ExportRequest(run: try run)
        e.architecture = choice
        e.out = try base + "/" + name
        e.calibration = CalibrationSet(images: 256)
        return try export(e, engine: startEngine(threads: 1), log: quiet)
    }

    @Test func trainingResumesAFinishedRunWithoutSteps() throws {
        var r = TrainRequest(run: try Self.run)
        r.recipe.resume = true
        let again = try trainSupernet(r, job: SingleProcess(), engine: startEngine(threads: 1), log: Self.quiet)
        #expect(again?.training.steps == 0)
        // A resume that changes the recipe is refused unless told to override.
        r.recipe.learningRate = 0.01
        #expect {
            try trainSupernet(r, job: SingleProcess(), engine: startEngine(threads: 1), log: Self.quiet)
        } throws: { error in
            if case RunError.configMismatch(_, let field, _, _)? = error as? RunError { return field == "--lr" }
            return false
        }
    }

    @Test func searchKeepsTheBudgetAndExportReproducesTheBestScore() throws {
        let space = try loadSpace("reference")
        let (lo, hi) = (space.cost(space.smallest).macs, space.cost(space.largest).macs)
        let run = try Self.run
        var s = SearchRequest(run: run)
        s.budget = Budget(maxMACs: (lo + hi) / 2)
        s.evolution.population = 6; s.evolution.generations = 2
        s.evolution.parents = 2; s.evolution.mutations = 3; s.evolution.crossovers = 3
        s.validationImages = 200
        s.calibration = CalibrationSet(images: 256, seed: 3)
        s.name = "half"
        var lines: [String] = []
        let found = try #require(try search(s, job: SingleProcess(), engine: startEngine(threads: 1), log: { lines.append($0) }))
        #expect(found.generations == 2 && found.evaluated >= 6 && found.scoredHere == found.evaluated)
        #expect(found.ranked.allSatisfy { $0.measured.macs <= (lo + hi) / 2 })
        #expect(zip(found.ranked, found.ranked.dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(found.best == found.ranked[0] && found.path == run + "/search-half")
        #expect(lines.contains { $0.hasPrefix("generation 2/2") })
        for f in SearchRun.resultFiles { #expect(FileManager.default.fileExists(atPath: found.path + "/" + f), "\(f)") }

        // The export of the best, recalibrated on the search's images, scores what the search
        // scored (on the whole validation split, so compare by re-scoring the same subset).
        var e = ExportRequest(run: run)
        e.search = "half"
        e.calibration = s.calibration
        let exported = try export(e, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(exported.architecture == found.best.architecture)
        #expect(exported.out == run + "/export-half" && exported.macs == found.best.measured.macs)
        let description = try ModelDirectory(path: exported.out).readDescription()
        #expect(description.provenance.search == found.path + "/" + SearchRun.bestFile)
        // Searching on the whole validation split makes the two numbers the same measurement.
        s.validationImages = nil; s.name = "whole"; s.evolution.generations = 1
        let whole = try #require(try search(s, job: SingleProcess(), engine: startEngine(threads: 1), log: Self.quiet))
        e.search = "whole"
        let again = try export(e, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(again.inheritedScore == whole.best.score)
    }

    @Test func finetuneAndQuantizeAnExportedModel() throws {
        let model = try Self.exported("finetuned")
        var f = FinetuneRequest(model: model.out)
        f.recipe.epochs = 1
        f.average = 0.9
        let tuned = try finetune(f, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(tuned.weights == "finetuned" && tuned.weightsPath == model.out + "/" + ModelDirectory.finetunedFile)
        #expect(tuned.training.steps == 1024 / 128 && FileManager.default.fileExists(atPath: tuned.weightsPath))
        // The same finetune again would overwrite its checkpoints: refused, not repeated.
        #expect(throws: UserError.self) { try finetune(f, engine: startEngine(threads: 1), log: Self.quiet) }

        var q = QuantizeRequest(model: model.out)
        q.calibrationBatches = 2
        q.errorImages = 20
        let report = try quantize(q, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(report.weights == "finetuned" && report.errorImages == 20 && report.layers.count > 3)
        #expect(report.validation.agreement > 0.8 && report.weightBytesInt8 * 3 < report.weightBytesFloat32)
        for file in report.files + [QuantizeReport.file] { #expect(FileManager.default.fileExists(atPath: model.out + "/" + file), "\(file)") }

        // Evaluation: the finetuned weights by default; the CSV's predictions are the accuracy.
        var v = EvaluateRequest(model: model.out)
        v.split = .val
        v.repeats = 3
        v.predictions = model.out + "/float.csv"
        let float = try evaluateModel(v, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(float.weights == ModelDirectory.finetunedFile && float.file == model.out + "/eval-finetuned-val.json")
        #expect(float.perClassCount.reduce(0, +) == float.images && float.images > 0 && float.classNames.count == float.perClass.count)
        let perClassHits = zip(float.perClass, float.perClassCount).map { $0 * Double($1) }.reduce(0, +)
        #expect(abs(perClassHits / Double(float.images) - float.accuracy) < 1e-9)
        #expect(float.macs == model.macs && float.latencyMs.single > 0 && float.onednnMs.batched > 0)
        let floatRows = try Self.predictions(v.predictions!)
        #expect(floatRows.count == float.images)
        #expect(Double(floatRows.filter { $0.label == $0.predicted }.count) / Double(float.images) == float.accuracy)
        v.predictions = model.out + "/int8.csv"
        let int8 = try evaluateInt8(v, engine: startEngine(threads: 1), log: { _ in })
        #expect(int8.images == float.images && int8.file == model.out + "/eval-int8-val.json")
        let int8Rows = try Self.predictions(v.predictions!)
        #expect(Double(int8Rows.filter { $0.label == $0.predicted }.count) / Double(int8.images) == int8.accuracy)
        let agree = zip(floatRows, int8Rows).filter { $0.predicted == $1.predicted }.count
        #expect(Double(agree) / Double(float.images) > 0.8, "int8 agrees with float on \(agree) of \(float.images)")
        v.weights = .exported
        #expect(throws: UserError.self) { try evaluateInt8(v, engine: startEngine(threads: 1), log: { _ in }) }

        // The int8 bench: a row per batch, each engine timed.
        let bench = try Int8Bench(directory: model.out, repeats: 1).run(engine: startEngine(threads: 1))
        #expect(bench.count == 3 && bench[0].batch == 1 && bench[1].batch <= 100 && bench[1].batch <= bench[2].batch)
        #expect(bench.allSatisfy { $0.floatImagesPerSecond > 0 && $0.oneDNNFloatImagesPerSecond > 0 && $0.int8ImagesPerSecond > 0 })
        #expect(bench.allSatisfy { abs($0.speedup - $0.int8ImagesPerSecond / $0.floatImagesPerSecond) < 1e-6 * $0.speedup })
    }

    /// The label and predicted class of each line of a predictions CSV.
    static func predictions(_ path: String) throws -> [(label: Int, predicted: Int)] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst()
        return lines.map { line in
            let f = line.split(separator: ",")
            return (Int(f[1])!, Int(f[2])!)
        }
    }

    @Test func pruneOneShotAndInRoundsReachTheGoal() throws {
        let model = try Self.exported("to-prune", .largest)
        var p = PruneRequest(model: model.out, out: try Self.base + "/pruned", metric: .macs, target: .percent(50))
        p.method = .criterion(.fpgmWeak)
        p.calibrationImages = 256
        let pruned = try prune(p, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(pruned.macs.before == model.macs && pruned.macs.after <= model.macs / 2 && pruned.finetunes.isEmpty)
        let record = try #require(try ModelDirectory(path: p.out).readDescription().pruning)
        #expect(record.method == "fpgm-weak" && record.goal == .init(metric: .macs, value: model.macs / 2) && record.nu == 0.9)
        // A resume with another goal is refused by the typed record, even where the record's
        // text (one decimal of a percent, MACs in thousands) reads the same.
        p.recipe.resume = true
        p.target = .count(model.macs / 2 + 1)
        #expect(targetText(model.macs / 2 + 1, .macs, model.macs) == record.target)
        #expect(throws: UserError.self) { try prune(p, engine: startEngine(threads: 1), log: Self.quiet) }

        var rounds = PruneRequest(model: model.out, out: try Self.base + "/pruned-rounds", metric: .parameters, target: .count(model.parameters / 3))
        rounds.rounds = 2
        rounds.finetuneEpochs = 1
        rounds.calibrationImages = 256
        let r = try prune(rounds, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(r.parameters.after <= model.parameters / 3 && r.finetunes.count == 2)
        #expect(r.finetunes.map(\.model) == [rounds.out + "/rounds/round-1", rounds.out])
    }

    @Test func pruneBySearchCallsSearchAndExport() throws {
        // One operator per stage: a width search keeps every block's operator.
        let model = try Self.exported("to-search", .given("32/64/128:" + Array(repeating: "shuffle3@0.4", count: 6).joined(separator: ",")))
        var p = PruneRequest(model: model.out, out: try Self.base + "/searched", metric: .macs, target: .percent(85))
        p.method = .search
        p.searchEpochs = 1; p.population = 4; p.generations = 1
        p.calibrationImages = 128; p.validationImages = 200
        var lines: [String] = []
        let r = try prune(p, engine: startEngine(threads: 1), log: { lines.append($0) })
        #expect(r.macs.after * 100 <= model.macs * 85 && r.macs.after < r.macs.before)
        let d = try ModelDirectory(path: p.out).readDescription()
        #expect(d.pruning?.method == "search (l1 order)" && d.pruning?.goal == .init(metric: .macs, value: model.macs * 85 / 100))
        #expect(d.provenance.run == p.out + "/supernet" && lines.contains { $0.hasPrefix("generation 1/1") })
        // The stages' own results: the width supernet's training, the search, the export.
        #expect((r.bySearch.widthSupernet?.steps ?? 0) > 0 && r.bySearch.export?.out == p.out)
        #expect(r.bySearch.search?.path == p.out + "/supernet/search" && r.bySearch.search?.best.architecture == r.bySearch.export?.architecture)
        // A second call without resume would train the width supernet again: refused.
        #expect(throws: UserError.self) { try prune(p, engine: startEngine(threads: 1), log: Self.quiet) }
        p.recipe.resume = true
        let resumed = try prune(p, engine: startEngine(threads: 1), log: Self.quiet)
        // Trained and searched before: only the export runs again, to the same model.
        #expect(resumed.macs.after == r.macs.after && resumed.bySearch.widthSupernet == nil && resumed.bySearch.search == nil)
    }

    @Test func rankingStudyScoresAndTrainsEveryArchitecture() throws {
        var r = CorrelateRequest(run: try Self.run)
        r.samples = 3; r.epochs = 1; r.trainImages = 256; r.validationImages = 200
        r.finetuneSteps = [0, 1]; r.standaloneSeeds = 2; r.spread = true
        r.out = try Self.base + "/correlate.json"
        let c = try #require(try correlate(r, job: SingleProcess(), engine: startEngine(threads: 1), log: Self.quiet))
        #expect(c.rows.count == 3 && c.rows.allSatisfy { $0.scores.count == 2 && $0.standalone.count == 2 })
        #expect(c.rows.allSatisfy { row in (row.scores + row.standalone).allSatisfy { (0...1).contains($0) } })
        #expect(c.variants.map(\.finetuneSteps) == [0, 1] && c.variants.allSatisfy { !$0.kendallTau.isFinite || abs($0.kendallTau) <= 1 })
        // Spread: one architecture per MACs bin, so the three differ in cost.
        #expect(Set(c.rows.map(\.macs)).count == 3)
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: c.path))) as! [String: Any]
        #expect((file["architectures"] as? [[String: Any]])?.count == 3 && file["standalone_seeds"] as? Int == 2)
        // Reusing the stand-alone results trains nothing and reports the same reference.
        r.standaloneFrom = c.path; r.finetuneSteps = [0]; r.out = try Self.base + "/again.json"
        let again = try #require(try correlate(r, job: SingleProcess(), engine: startEngine(threads: 1), log: Self.quiet))
        #expect(again.rows.map(\.standalone) == c.rows.map(\.standalone) && again.rows.map { $0.scores[0] } == c.rows.map { $0.scores[0] })
        r.finetuneSteps = [1, 1]
        #expect(throws: UserError.self) { try correlate(r, job: SingleProcess(), engine: startEngine(threads: 1), log: Self.quiet) }
    }

    @Test func latencyTablePredictsTheArchitecturesItTimes() throws {
        let tmp = TemporaryDirectory("latency")
        defer { withExtendedLifetime(tmp) {} }
        tmp.file("space.yaml", Array(smallShuffleSpaceYAML.utf8))
        var r = LatencyRequest(space: tmp.path + "/space.yaml")
        r.out = tmp.path + "/table.json"
        r.repeats = 2; r.calibrate = 3; r.validate = 4
        let t = try measureLatency(r, engine: startEngine(threads: 1), log: Self.quiet)
        #expect(t.runtime == .pare && t.table.precision == "float32" && t.table.space.name == "small-shuffle")
        #expect(!t.table.entries.isEmpty && t.table.entries.allSatisfy { $0.milliseconds > 0 })
        #expect(t.validation.count == 4 && t.validation.allSatisfy { $0.measuredMs > 0 && $0.predictedMs == t.table.predictMs($0.architecture) })
        #expect(t.meanError! <= t.maxError! && FileManager.default.fileExists(atPath: tmp.path + "/table.validation.json"))
        let saved = try JSONDecoder().decode(LatencyTable.self, from: Data(contentsOf: URL(fileURLWithPath: t.path)))
        #expect(saved == t.table)
        r.runtime = .pare; r.int8 = true
        #expect(throws: UserError.self) { try measureLatency(r, engine: startEngine(threads: 1), log: Self.quiet) }
    }
}
