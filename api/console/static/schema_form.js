// A form for an input element's JSON Schema: one field per property of an object schema
// (string, number, integer, boolean, enum); anything else is edited as JSON. The server validates.
import { el } from "./dom.js";

function field(name, schema, required) {
  const id = `field-${name}`;
  const title = `${schema.title || name}${required ? " *" : ""}`;
  let input;
  let read;
  if (Array.isArray(schema.enum)) {
    input = el("select", { id, name }, schema.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
    read = () => JSON.parse(input.value);
  } else if (schema.type === "boolean") {
    input = el("input", { id, name, type: "checkbox" });
    if (schema.default === true) input.checked = true;
    read = () => input.checked;
  } else if (schema.type === "number" || schema.type === "integer") {
    input = el("input", { id, name, type: "number", step: schema.type === "integer" ? "1" : "any" });
    read = () => (input.value === "" ? undefined : Number(input.value));
  } else if (schema.type === "string") {
    input = el("input", { id, name, type: "text" });
    read = () => (input.value === "" && !required ? undefined : input.value);
  } else {
    input = el("textarea", { id, name, rows: 3 }, JSON.stringify(schema.default ?? null));
    read = () => JSON.parse(input.value);
  }
  if (schema.default !== undefined && input.tagName === "INPUT" && input.type !== "checkbox") {
    input.value = schema.default;
  }
  const help = schema.description ? el("small", { class: "muted" }, schema.description) : null;
  return { node: el("div", { class: "form-field" }, [el("label", { for: id }, title), input, help]), name, read };
}

/** Build the fields for `schema`; returns {node, payload()} (payload() may throw on bad JSON). */
export function schemaForm(schema) {
  if (schema.type === "object" && schema.properties) {
    const required = new Set(schema.required || []);
    const fields = Object.entries(schema.properties).map(([n, s]) => field(n, s, required.has(n)));
    return {
      node: el("div", {}, fields.map((f) => f.node)),
      payload() {
        const out = {};
        for (const f of fields) {
          const value = f.read();
          if (value !== undefined) out[f.name] = value;
        }
        return out;
      },
    };
  }
  const raw = field("payload", schema, true);
  return { node: raw.node, payload: raw.read };
}
