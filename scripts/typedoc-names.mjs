// A typedoc plugin: names each documented module by its import path (`@ws-warden/core/stores`)
// instead of its source directory (`core/src/stores`).
import { Converter, ReflectionKind } from 'typedoc'

/** `core/src` → `@ws-warden/core`; `core/src/adapter` or `core/src/adapter/index` → `…/adapter`. */
export function importPath(name) {
  const match = /^([\w-]+)\/src(?:\/(.+?))?(?:\/index)?$/.exec(name)
  if (match === null) return name
  return `@ws-warden/${match[1]}${match[2] === undefined || match[2] === 'index' ? '' : `/${match[2]}`}`
}

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      module.name = importPath(module.name)
    }
  })
}
