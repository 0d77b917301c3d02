// Which port wiring is legal: the same rule as tessera.workflows.ports.connects.

export function isList(t: string): boolean {
  return t.startsWith("list[") && t.endsWith("]");
}

export function elementType(t: string): string {
  return isList(t) ? t.slice(5, -1) : t;
}

/**
 * How an output of type `output` feeds an input of type `input`: "whole", "each" (a mapped
 * step's elements one to one), "gather" (all elements into a list), or null when the types do
 * not fit.
 */
export function connects(output: string, input: string, mappedSource: boolean): "whole" | "each" | "gather" | null {
  if (input === "any") return mappedSource ? "each" : "whole";
  if (mappedSource) {
    if (isList(input) && !isList(output) && elementType(input) === output) return "gather";
    return output === input ? "each" : null;
  }
  return output === input ? "whole" : null;
}

export type WireKind = "whole" | "each" | "gather" | "one";

/**
 * How one wire feeds an input that has `wires` wires in all (tessera.workflows.plan's rule): a
 * list input also takes several unmapped outputs of its element type ("one" each). Null: refused.
 */
export function wireKind(output: string, input: string, mappedSource: boolean, wires: number): WireKind | null {
  let how: WireKind | null = connects(output, input, mappedSource);
  if (how === null && isList(input) && !mappedSource && output === elementType(input)) how = "one";
  if (how === null) return null;
  if (wires > 1 && how !== "one" && how !== "gather") return null;
  return how;
}
