// Plans from files: read (YAML or JSON, checked field by field), checked against a model, written back out.
export { readPlanFile, parsePlan, readPlan } from './read-plan.js';
export { checkPlanAgainstModel } from './check-plan.js';
export { planData, planYaml } from './write-plan.js';
