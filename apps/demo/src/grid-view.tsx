import {
  DataEditor,
  GridCellKind,
  type DataEditorRef,
  type GridCell,
  type GridColumn,
  type Item,
} from "@glideapps/glide-data-grid";
import "@glideapps/glide-data-grid/dist/index.css";
import { forwardRef, useCallback, useMemo } from "react";
import type { RowStore } from "./row-store.js";

const COLUMN_WIDTH = 120;
/** Wider columns for types whose text is long. */
const WIDE_TYPES: Readonly<Record<string, number>> = { "timestamp with time zone": 200, "timestamp without time zone": 180, "double precision": 160 };
/** Columns kept in place while scrolling sideways: the first (the key, in the demo grid). */
export const FROZEN_COLUMNS = 1;
const NULL_TEXT = "∅";

export interface GridViewProps {
  readonly store: RowStore;
  /** Rows to show: the rows received when the page last drew, not the store's live count. */
  readonly rows: number;
}

/**
 * The result in Glide Data Grid: a canvas that draws only the visible cells, each decoded from
 * the store when drawn. The id column stays in place while scrolling sideways.
 */
export const GridView = forwardRef<DataEditorRef, GridViewProps>(function GridView({ store, rows }, ref) {
  const columns = useMemo<GridColumn[]>(
    () => store.columns.map((column) => ({ title: column.name, id: column.name, width: WIDE_TYPES[column.type] ?? COLUMN_WIDTH })),
    [store],
  );
  const getCellContent = useCallback(
    ([column, row]: Item): GridCell => {
      const value = store.cell(row, column);
      const text = value === null ? NULL_TEXT : (value ?? "");
      // What the canvas shows is also what copy and screen readers get, so NULL reads as NULL_TEXT.
      return { kind: GridCellKind.Text, data: text, displayData: text, allowOverlay: false, readonly: true };
    },
    [store],
  );
  return (
    <DataEditor
      ref={ref}
      columns={columns}
      rows={rows}
      getCellContent={getCellContent}
      freezeColumns={FROZEN_COLUMNS}
      smoothScrollX
      smoothScrollY
      width="100%"
      height="100%"
    />
  );
});
