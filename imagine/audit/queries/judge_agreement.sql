-- How often do the two judges agree, and how well does a judge's "Errors exist." predict a failing plan?
-- One row over the traces where both judges ran. A verdict other than no_errors counts as a flag (as in
-- `flagged`). kappa: Cohen's kappa of the two judges; precision / recall of each judge's flag, and of the
-- pair (`flagged`), against the strict scorer's verdict on the reasoner's plan (reasoner_pass = false).
WITH j AS (
    SELECT judge_1_verdict <> 'no_errors' AS f1,
           judge_2_verdict <> 'no_errors' AS f2,
           flagged,
           NOT reasoner_pass AS fails
    FROM traces
    WHERE judge_1_verdict IS NOT NULL AND judge_2_verdict IS NOT NULL
), s AS (
    SELECT count(*) AS traces,
           avg((f1 = f2)::DOUBLE) AS agreement,
           avg(f1::DOUBLE) AS p1,
           avg(f2::DOUBLE) AS p2,
           count(*) FILTER (WHERE fails) AS failing,
           count(*) FILTER (WHERE f1) AS flags_1,
           count(*) FILTER (WHERE f2) AS flags_2,
           count(*) FILTER (WHERE flagged) AS flags_any,
           count(*) FILTER (WHERE f1 AND fails) AS hits_1,
           count(*) FILTER (WHERE f2 AND fails) AS hits_2,
           count(*) FILTER (WHERE flagged AND fails) AS hits_any
    FROM j
)
SELECT traces,
       round(agreement, 4) AS agreement,
       round((agreement - (p1 * p2 + (1 - p1) * (1 - p2))) / nullif(1 - (p1 * p2 + (1 - p1) * (1 - p2)), 0), 4) AS kappa,
       round(hits_1 / nullif(flags_1, 0), 4) AS judge_1_precision,
       round(hits_1 / nullif(failing, 0), 4) AS judge_1_recall,
       round(hits_2 / nullif(flags_2, 0), 4) AS judge_2_precision,
       round(hits_2 / nullif(failing, 0), 4) AS judge_2_recall,
       round(hits_any / nullif(flags_any, 0), 4) AS either_precision,
       round(hits_any / nullif(failing, 0), 4) AS either_recall
FROM s
