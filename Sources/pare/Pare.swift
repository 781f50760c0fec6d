import ArgumentParser
import Foundation
import Spaces
import Workflows

@main
struct Pare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pare",
        abstract: "Find small, fast convolutional networks on a CPU: one-shot NAS and channel pruning.",
        subcommands: [TrainCommand.self, SearchCommand.self, ExportCommand.self, FinetuneCommand.self, EvalCommand.self, PruneCommand.self,
                      LatencyCommand.self, CorrelateCommand.self, InfoCommand.self, BenchCommand.self, QuantizeCommand.self,
                      StudyCommand.self])

    /// As ArgumentParser's own, except that a malformed command line (an unknown option, a
    /// value that does not parse, a failed `validate()`) is one line on stderr and exit
    /// status 1 like every other input error; `--help` is unchanged.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success, !(error is ExitCode) else { exit(withError: error) }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            logLine("error: " + quoted(message, limit: 300))
            Foundation.exit(1)
        }
    }
}

/// Runs `body`, turning thrown errors into one clean line and exit status 1 (130 after Ctrl-C).
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as CleanExit {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch let e as Interrupted {
        if let resume = e.resume { logLine(resume) }
        throw ExitCode(130)
    } catch {
        logLine("error: \(error)")
        throw ExitCode(1)
    }
}
