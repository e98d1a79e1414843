// Embeds the files of a target's `Dashboard/` folder as `DashboardFiles.files` (see the
// EmbedFiles tool), rebuilt whenever one of them changes.
import Foundation
import PackagePlugin

@main
struct EmbedFilesPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let module = target.sourceModule else { return [] }
        let folder = module.directoryURL.appending(path: "Dashboard")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path()).filter { !$0.hasPrefix(".") }.sorted()
        let inputs = names.map { folder.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "DashboardFiles.swift")
        return [.buildCommand(
            displayName: "Embedding the dashboard's files",
            executable: try context.tool(named: "EmbedFiles").url,
            arguments: [output.path(), "DashboardFiles"] + inputs.map { $0.path() },
            inputFiles: inputs,
            outputFiles: [output])]
    }
}
