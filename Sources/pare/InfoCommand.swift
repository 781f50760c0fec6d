import ArgumentParser
import Workflows
import Foundation
import Search
import Spaces

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a search space: layers, choices, number of candidates, cost range (and of one architecture).")

    @Option(help: "Search-space file (YAML or JSON), or 'reference' for the built-in reference space.")
    var space: String
    @Option(help: "An architecture in text form (WIDTHS:OP@RATIO,...) to validate and cost.")
    var arch: String?
    @Option(help: "A latency table of this space (pare latency): also print each architecture's predicted latency, as pare search --max-latency budgets it.")
    var latencyTable: String?

    func run() throws {
        try reportingErrors {
            let s = try loadSpace(space)
            let table = try latencyTable.map { try loadLatencyTable($0, for: s) }
            print("space \(s.name): input \(s.inputChannels)x\(s.inputSize)x\(s.inputSize), \(s.classes) classes")
            print("stem: conv\(s.stem.kernel)x\(s.stem.kernel) \(s.inputChannels)->\(s.stem.channels), stride \(s.stem.stride), BN, ReLU")
            for (i, st) in s.stages.enumerated() {
                print("stage \(i): \(st.hasElasticDepth ? "\(st.depthChoices.map(String.init).joined(separator: "/")) of " : "")\(st.blocks) blocks, stride \(st.stride), widths \(st.widths), operators \(st.operators.map(\.description).joined(separator: " ")), middle ratios \(st.middleRatios.map { Double($0) / 10 })")
            }
            if s.head.channels > 0 {
                print("head: conv1x1 ->\(s.head.channels), BN, ReLU, global average pool, linear \(s.head.channels)->\(s.classes)")
            } else {
                print("head: global average pool, linear \(s.stages.last!.widths.max()!)->\(s.classes) (no head convolution)")
            }
            print("blocks:")
            for b in s.blocks {
                let mids = b.operators.map { "\($0)<=\(b.maxMiddleWidth($0))" }.joined(separator: " ")
                print("  \(b.index): stage \(b.stage) stride \(b.stride) \(b.inputSize)->\(b.outputSize)px in \(b.inputWidths) out \(b.outputWidths) middle \(mids)")
            }
            print(String(format: "candidates: 10^%.2f", s.log10Candidates))
            func show(_ label: String, _ a: Architecture) {
                let c = s.cost(a)
                let ms = table.map { String(format: ", %.3f ms predicted (%@, batch %d, %d threads)", $0.latencyMs(a), $0.precision, $0.batch, $0.threads) } ?? ""
                let e = s.edgeCost(a)
                print(String(format: "%@ %.3f M MACs, %d params, int8 peak memory %@, flash %@%@: %@", label, Double(c.macs) / 1e6, c.parameters,
                             readableBytes(e.peakActivationBytes), readableBytes(e.flashBytes), ms, a.description))
            }
            show("smallest:", s.smallest)
            show("largest: ", s.largest)
            if let arch {
                show("arch:    ", try Architecture(parsing: arch, space: s))
            }
        }
    }
}
