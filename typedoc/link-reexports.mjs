// @ts-check
/**
 * A TypeDoc plugin for `entryPointStrategy: "packages"`: a package that re-exports what
 * another workspace package declares (core re-exports `Balancer`, `roundRobin`, … from
 * `@switchyard/balancers`) shows those names as "Re-exports X" linking to the declaring
 * package's page, as TypeDoc does for re-exports inside one package, instead of a second
 * copy of the declaration.
 *
 * TypeDoc converts each package on its own and then merges the JSON, so it cannot link a
 * re-export across packages itself (TypeStrong/typedoc#2428). The re-exporting package's
 * typedoc.json therefore excludes the other package's files (`externalPattern` +
 * `excludeExternals`) and maps its import to the source (`compilerOptions.paths`, relative
 * to the package, whose tsconfig.json has paths of its own) so that type references resolve to
 * the declaring package after the merge, built or not; this plugin records the skipped
 * re-exports while each package is converted and adds them back as references once the
 * packages are merged. A re-export it cannot link is a warning, so the docs build fails.
 */
import { Application, Converter, ReferenceReflection, ReflectionGroup, ReflectionKind } from 'typedoc';
import ts from 'typescript';

/** @param {import('typedoc').Application} app */
export function load(app) {
  /** @type {{ path: string[], name: string, target: { packageName: string, packagePath: string, qualifiedName: string } }[]} */
  const skipped = [];

  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const project = context.project;
    // The checker is only reachable with a program active; packages mode has one per package.
    context.setActiveProgram(context.programs[0]);
    const modules = project.getChildrenByKind(ReflectionKind.Module);
    for (const module of modules.length > 0 ? modules : [project]) {
      const symbol = context.getSymbolFromReflection(module);
      if (symbol === undefined) continue;
      for (const exported of context.checker.getExportsOfModule(symbol)) {
        if ((exported.flags & ts.SymbolFlags.Alias) === 0) continue;
        const target = context.checker.getAliasedSymbol(exported);
        if (context.getReflectionFromSymbol(target) !== undefined || !context.shouldIgnore(target)) continue;
        const id = context.createSymbolId(target);
        if (id.packageName === project.packageName || !id.packageName.startsWith('@switchyard/')) continue;
        skipped.push({
          path: module === project ? [project.name] : [project.name, module.name],
          name: exported.name,
          target: {
            packageName: id.packageName,
            packagePath: id.packagePath,
            qualifiedName: id.qualifiedName,
          },
        });
      }
    }
    context.setActiveProgram(undefined);
  });

  app.on(Application.EVENT_PROJECT_REVIVE, (project) => {
    for (const { path, name, target } of skipped) {
      const module = project.getChildByName(path);
      const declared = Object.values(project.reflections).find((r) => {
        const id = project.getSymbolIdFromReflection(r);
        return (
          id !== undefined &&
          id.packageName === target.packageName &&
          id.packagePath === target.packagePath &&
          id.qualifiedName === target.qualifiedName
        );
      });
      if (module === undefined || !module.isDeclaration() || declared === undefined) {
        app.logger.warn(`link-reexports: cannot link ${path.join('.')}.${name} to ${target.packageName}`);
        continue;
      }
      const reference = new ReferenceReflection(name, declared, module);
      project.registerReflection(reference, undefined, undefined);
      module.addChild(reference);
      module.groups ??= [];
      let group = module.groups.find((g) => g.title === 'References');
      if (group === undefined) {
        group = new ReflectionGroup('References', module);
        module.groups.push(group);
      }
      group.children.push(reference);
      group.children.sort((a, b) => a.name.localeCompare(b.name));
    }
    skipped.length = 0;
  });
}
