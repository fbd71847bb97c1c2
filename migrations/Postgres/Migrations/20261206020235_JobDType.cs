using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class JobDType : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "DType",
                table: "Generations",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "DType",
                table: "Evaluations",
                type: "text",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "DType",
                table: "Generations");

            migrationBuilder.DropColumn(
                name: "DType",
                table: "Evaluations");
        }
    }
}
