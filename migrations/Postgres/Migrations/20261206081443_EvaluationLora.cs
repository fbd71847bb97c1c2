using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class EvaluationLora : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "LoraPath",
                table: "Evaluations",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "LoraScale",
                table: "Evaluations",
                type: "double precision",
                nullable: false,
                defaultValue: 1.0);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "LoraPath",
                table: "Evaluations");

            migrationBuilder.DropColumn(
                name: "LoraScale",
                table: "Evaluations");
        }
    }
}
