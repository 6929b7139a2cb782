/**
 * The `sluice.yaml` the dev stack writes: one primary database from `${DATABASE_URL}` and the
 * `grid` dataset, resumable by `id`. The `after` parameter is optional; unset, it binds NULL, and
 * `id > NULL` would return nothing, hence the coalesce.
 */
export function demoConfigYaml(): string {
  return `# Written by \`npm start\` (shared/devstack); edit freely, it is rewritten on each start.
databases:
  main:
    url: \${DATABASE_URL}
    role: primary
    pool: 10

datasets:
  grid:
    sql: "SELECT * FROM grid WHERE id > coalesce($1::int8, 0) ORDER BY id"
    params:
      - { name: after, type: int8, required: false }
    key: id
`;
}
