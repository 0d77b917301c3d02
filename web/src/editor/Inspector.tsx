// The selected step's settings: name, parameters (a form drawn from the component's JSON
// Schema), fan-out, resources, variants, retries and timeout.
import Form from "@rjsf/core";
import type { RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import type { ReactNode } from "react";
import type { ComponentInfo, StepData, Variant } from "./model";

function Num({ label, value, onChange, step = 1, min = 0 }: { label: string; value: number | undefined; onChange: (v: number | undefined) => void; step?: number; min?: number }) {
  return (
    <label className="field">
      {label}
      <input
        type="number"
        aria-label={label}
        min={min}
        step={step}
        value={value ?? ""}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
      />
    </label>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset>
      <legend>{title}</legend>
      {children}
    </fieldset>
  );
}

export function Inspector({ step, comp, onChange, onDelete }: { step: StepData; comp: ComponentInfo | undefined; onChange: (patch: Partial<StepData>) => void; onDelete: () => void }) {
  const setVariant = (i: number, patch: Partial<Variant>) => onChange({ variants: step.variants.map((v, j) => (j === i ? { ...v, ...patch } : v)) });
  return (
    <aside className="inspector" data-testid="inspector">
      <label className="field">
        step name
        <input aria-label="step name" value={step.name} onChange={(e) => onChange({ name: e.target.value })} />
      </label>
      <div className="muted">
        {step.component} {comp?.version ? `v${comp.version}` : ""} · {comp?.kind}
        {comp?.summary ? <div>{comp.summary}</div> : null}
      </div>
      <Section title="Parameters">
        {comp && comp.params && Object.keys((comp.params as { properties?: object }).properties ?? {}).length ? (
          <Form
            key={step.name + step.component}
            schema={{ ...(comp.params as RJSFSchema), title: undefined, description: undefined }}
            formData={step.params}
            validator={validator}
            liveValidate
            // only what the user sets (and non-empty defaults) goes into the step: never an
            // empty list standing in for a required parameter
            experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipEmptyDefaults", arrayMinItems: { populate: "never" } }}
            showErrorList={false}
            uiSchema={{ "ui:submitButtonOptions": { norender: true } }}
            onChange={(e) => onChange({ params: (e.formData as Record<string, unknown>) ?? {} })}
          />
        ) : (
          <div className="muted">This component takes no parameters.</div>
        )}
      </Section>
      <Section title="Resources">
        <div className="row">
          <Num label="cpus" value={step.resources.cpus} step={0.5} onChange={(v) => onChange({ resources: { ...step.resources, cpus: v } })} />
          <Num label="memory_mb" value={step.resources.memory_mb} step={256} onChange={(v) => onChange({ resources: { ...step.resources, memory_mb: v } })} />
          <Num label="gpus" value={step.resources.gpus} onChange={(v) => onChange({ resources: { ...step.resources, gpus: v } })} />
        </div>
        {comp?.resources && Object.keys(comp.resources).length ? <div className="muted">component default: {JSON.stringify(comp.resources)}</div> : null}
      </Section>
      <Section title="Variants">
        <div className="muted">Ways to run this step (e.g. cpu and gpu); tessera places it on the one predicted fastest or cheapest.</div>
        {step.variants.map((v, i) => (
          <div className="row variant" key={i}>
            <label className="field">
              name
              <input aria-label={`variant ${i + 1} name`} value={v.name} onChange={(e) => setVariant(i, { name: e.target.value })} />
            </label>
            <Num label="cpus" value={v.cpus} step={0.5} onChange={(x) => setVariant(i, { cpus: x })} />
            <Num label="gpus" value={v.gpus} onChange={(x) => setVariant(i, { gpus: x })} />
            <button className="link" onClick={() => onChange({ variants: step.variants.filter((_, j) => j !== i) })}>
              remove
            </button>
          </div>
        ))}
        <button onClick={() => onChange({ variants: [...step.variants, { name: step.variants.length ? "gpu" : "cpu", cpus: 1, gpus: step.variants.length ? 1 : 0 }] })}>Add variant</button>
        {step.variants.length > 1 ? (
          <label className="field">
            optimize
            <select value={step.optimize ?? "time"} onChange={(e) => onChange({ optimize: e.target.value as "time" | "cost" })}>
              <option value="time">time</option>
              <option value="cost">cost</option>
            </select>
          </label>
        ) : null}
      </Section>
      <Section title="Fan-out (map)">
        <label className="field check">
          <input type="checkbox" aria-label="map" checked={step.map !== null} onChange={(e) => onChange({ map: e.target.checked ? { range: 4, as: "item" } : null })} /> run once per item
        </label>
        {step.map ? (
          <div className="row" title={`each element gets one item as its parameter ${step.map.as ?? "item"}; a value set above for it is not used`}>
            <Num label="range" value={typeof step.map.range === "number" ? step.map.range : undefined} min={1} onChange={(v) => onChange({ map: { ...step.map, range: v, over: undefined } })} />
            <label className="field">
              as (parameter)
              <input aria-label="map as" value={step.map.as ?? "item"} onChange={(e) => onChange({ map: { ...step.map, as: e.target.value } })} />
            </label>
            <Num label="max_running" value={step.map.max_running} min={1} onChange={(v) => onChange({ map: { ...step.map, max_running: v } })} />
          </div>
        ) : null}
      </Section>
      <Section title="Retries and timeout">
        <div className="row">
          <Num label="retries" value={step.retries} onChange={(v) => onChange({ retries: v ?? 0 })} />
          <Num label="timeout_s" value={step.timeout_s} onChange={(v) => onChange({ timeout_s: v })} />
        </div>
      </Section>
      <button className="danger" onClick={onDelete}>
        Delete step
      </button>
    </aside>
  );
}
